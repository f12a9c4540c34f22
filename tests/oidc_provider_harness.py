"""A real OpenID Provider for the tests: panva's `oidc-provider` (OpenID Certified, pinned in
`tests/oidc_provider/package.json`) run by Node.js on loopback, and a browserless user agent
that signs in through its development login and consent pages.

    provider = NodeProvider(clients=[...], accounts={"alice": {...}}).start()
    tokens = authorization_code_tokens(provider, "pmsc-web", "alice")
    provider.rotate_keys()      # same issuer and port, a new `kid`
    provider.set_account("alice", {...})   # next sign-ins see the new claims, no restart
    provider.requests_to("/jwks")          # how many requests the provider got on a path
    provider.stop()

The provider's keys are made here (`provider.keys`, private RSA JWKs), so a test can also sign
tokens of its own with them (`provider.sign(claims)`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
# oidc-provider 9 calls URL.parse, which Node.js has from 20.18 (and 22.1) on
MIN_NODE = (20, 18)
READY_TIMEOUT = 20.0
NPM_TIMEOUT = 300.0
DEFAULT_SCOPE = "openid profile email groups"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^:]")

_node_reason: list[str | None] = []


def requires_node():
    """A pytest mark for modules that need the provider: skipped where Node.js is missing,
    except with `PMSC_REQUIRE_NODE=1` (CI), where they run and fail loudly instead."""
    import pytest

    reason = node_available()
    required = os.environ.get("PMSC_REQUIRE_NODE") == "1"
    return pytest.mark.skipif(reason is not None and not required, reason=reason or "")


def node_available() -> str | None:
    """None when Node.js and npm can run the provider; else why not (a reason to skip)."""
    if _node_reason:
        return _node_reason[0]
    reason = _check_node()
    _node_reason.append(reason)
    return reason


def _check_node() -> str | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        return "node is not installed: the OpenID Provider harness runs oidc-provider on Node.js"
    if npm is None:
        return "npm is not installed: it installs the OpenID Provider harness (oidc-provider)"
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"`node --version` failed: {error}"
    match = re.match(r"v(\d+)\.(\d+)", version)
    if match is None:
        return f"cannot read the Node.js version from {version!r}"
    if (int(match[1]), int(match[2])) < MIN_NODE:
        needed = ".".join(map(str, MIN_NODE))
        return f"Node.js {version} is too old for oidc-provider 9 (needs {needed} or newer)"
    return None


def ensure_installed() -> None:
    """`npm ci` in tests/oidc_provider/ unless node_modules is already as the lock file says."""
    lock = PROVIDER_DIR / "package-lock.json"
    # npm writes this copy of the lock into node_modules at every install
    installed = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    if (
        installed.exists()
        and installed.stat().st_mtime >= lock.stat().st_mtime
        and (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
    ):
        return
    reason = node_available()
    if reason:
        raise RuntimeError(reason)
    result = subprocess.run(
        [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"npm ci in {PROVIDER_DIR} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


def _generate_keys() -> list[RSAKey]:
    kid = f"rsa-{secrets.token_hex(4)}"
    return [RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})]


class NodeProvider:
    """oidc-provider on 127.0.0.1: authorization code flow with PKCE (S256, required), the
    `openid profile email groups` scopes (claims in the ID token too), devInteractions login
    and consent pages, RP-initiated logout, and JWT access tokens for `resource` (RS256, with
    `groups`, `name` and `preferred_username` of the account; `resource_indicator` is what a
    client sends as `resource`, and the default; the scope `api` puts `scope: "api"` in them).

    `clients`: oidc-provider client metadata (client_id, client_secret, redirect_uris,
    post_logout_redirect_uris, grant_types, response_types, token_endpoint_auth_method), plus
    `"first_party": True` to skip the consent page. `accounts`: sub → claims (name,
    preferred_username, email, groups); a login that is not there signs in with just a `sub`.
    """

    def __init__(
        self,
        *,
        clients: Iterable[dict[str, Any]],
        accounts: dict[str, dict[str, Any]],
        resource: str = "pmsc-api",
        port: int | None = None,
    ) -> None:
        self.clients = [dict(client) for client in clients]
        self.accounts = {sub: dict(claims) for sub, claims in accounts.items()}
        self.resource = resource
        # RFC 8707 wants an absolute URI as the `resource` parameter (oidc-provider refuses
        # anything else); the access tokens' `aud` is `resource` itself
        self.resource_indicator = (
            resource if _ABSOLUTE_URI.match(resource) else f"urn:resource:{quote(resource)}"
        )
        self.port = port
        self.issuer: str | None = None
        self.keys: list[RSAKey] = _generate_keys()
        self._cookie_keys = [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._stdout: deque[str] = deque(maxlen=500)
        self._requests: list[str] = []  # "METHOD /path?query" of every request, in order
        self._requests_seen = threading.Condition()
        self._stderr: deque[str] = deque(maxlen=500)
        self._ready = threading.Event()
        self._tmp: Path | None = None  # the config file's folder, from start() to close()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> NodeProvider:
        """Install if needed, spawn `node provider.mjs`, wait for it to listen (20 s)."""
        if self.running:
            return self
        ensure_installed()
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="pmsc-oidc-provider-"))
        config = self._tmp / "config.json"
        self._write_accounts()
        config.write_text(json.dumps(self._config()), encoding="utf-8")
        config.chmod(0o600)
        self._stdout.clear()
        self._stderr.clear()
        self._ready.clear()
        self._process = subprocess.Popen(
            [shutil.which("node") or "node", str(PROVIDER_SCRIPT), str(config)],
            cwd=PROVIDER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env={**os.environ, "NODE_ENV": "development"},
        )
        self._readers = [
            threading.Thread(
                target=self._read, args=(self._process.stdout, self._stdout, True), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self._process.stderr, self._stderr, False), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                status = self._process.poll()
                self.stop()
                why = f"exited with {status}" if status is not None else "timed out"
                raise RuntimeError(
                    f"the OpenID Provider (node {PROVIDER_SCRIPT.name}) {why} before it was "
                    f"ready; its stderr:\n{self.stderr}\nits stdout:\n{self.stdout}"
                )
        return self

    def stop(self) -> None:
        """Stop the provider (SIGTERM, then SIGKILL after 5 s); its sessions are forgotten."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for reader in self._readers:
            reader.join(5)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def close(self) -> None:
        """Stop, and remove the temporary config."""
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def rotate_keys(self) -> list[RSAKey]:
        """A new key set (a new `kid`), served by a restarted provider on the same port and
        issuer; the old keys are gone from the JWKS. Returns the new keys."""
        self.keys = _generate_keys()
        if self.running:
            self.stop()
            self.start()
        return self.keys

    def __enter__(self) -> NodeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def stdout(self) -> str:
        return "\n".join(self._stdout)

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr)

    # -- what tests use ----------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The provider's `/.well-known/openid-configuration`."""
        return self._get_json(f"{self._issuer()}/.well-known/openid-configuration")

    def jwks(self) -> dict[str, Any]:
        """The public JWK set the provider serves now."""
        return self._get_json(self.discovery()["jwks_uri"])

    @property
    def key_set(self) -> KeySet:
        """`keys` as a joserfc KeySet (private keys)."""
        return KeySet(list(self.keys))

    def client(self, client_id: str) -> dict[str, Any]:
        for client in self.clients:
            if client["client_id"] == client_id:
                return client
        raise KeyError(client_id)

    def set_account(self, sub: str, claims: dict[str, Any]) -> None:
        """Add or replace an account; a running provider uses the new claims from its next
        sign-in or token on (its accounts file is read at every lookup), without a restart."""
        self.accounts[sub] = dict(claims)
        if self._tmp is not None:
            self._write_accounts()

    def requests_to(self, path: str) -> int:
        """How many requests the running provider has received for `path` (query ignored),
        counting every request made before this call (it waits for the provider's log to
        catch up, by a marker request of its own)."""
        self.sync_requests()
        with self._requests_seen:
            return sum(1 for line in self._requests if _request_path(line) == path)

    def sync_requests(self, timeout: float = 5.0) -> None:
        """Wait until the request log holds every request the provider answered before now."""
        marker = secrets.token_hex(8)
        requests.get(
            f"{self._issuer()}/.well-known/openid-configuration?log-marker={marker}", timeout=10
        ).close()
        with self._requests_seen:
            if not self._requests_seen.wait_for(
                lambda: any(marker in line for line in self._requests), timeout
            ):
                raise RuntimeError("the provider's request log did not show the marker")

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None) -> str:
        """A JWT of `claims` (as given) signed RS256 with the provider's key."""
        signing_key = key or self.keys[0]
        return jwt.encode(
            {"alg": "RS256", "typ": "at+jwt", "kid": signing_key.kid}, claims, signing_key
        )

    # -- internals ---------------------------------------------------------------------------

    def _issuer(self) -> str:
        if self.issuer is None:
            raise RuntimeError("the provider has not been started")
        return self.issuer

    def _accounts_file(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("the provider has not been started")
        return self._tmp / "accounts.json"

    def _write_accounts(self) -> None:
        # written aside and renamed: the provider never reads half a file
        target = self._accounts_file()
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(self.accounts), encoding="utf-8")
        partial.replace(target)

    def _config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "port": self.port or 0,
            "jwks": KeySet(list(self.keys)).as_dict(private=True),
            "cookie_keys": self._cookie_keys,
            "clients": self.clients,
            "accounts": self.accounts,
            "accounts_file": str(self._accounts_file()),
            "resource": self.resource,
            "resource_indicator": self.resource_indicator,
            "exit_with_parent": True,
        }

    def _read(self, pipe: Any, lines: deque[str], watch_ready: bool) -> None:
        try:
            for line in pipe:
                line = line.rstrip("\n")
                lines.append(line)
                if watch_ready and line.startswith("REQUEST "):
                    with self._requests_seen:
                        self._requests.append(line.removeprefix("REQUEST "))
                        self._requests_seen.notify_all()
                    continue
                if watch_ready and line.startswith("READY ") and not self._ready.is_set():
                    self.issuer = line.split(" ", 1)[1].strip()
                    self.port = urlsplit(self.issuer).port
                    self._ready.set()
        except (OSError, ValueError):
            pass  # the pipe was closed under us by stop()

    @staticmethod
    def _get_json(url: str) -> dict[str, Any]:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        return response.json()


# -- a user agent without a browser -----------------------------------------------------------


@dataclass
class Form:
    action: str | None
    method: str
    id: str | None
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str | None, str]] = field(default_factory=list)


class _PageParser(HTMLParser):
    """The forms of a page (inputs and submit buttons, also those tied by `form="id"`), its
    title, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.title = ""
        self.scripts = ""
        self._current: Form | None = None
        self._in: str | None = None
        self._orphans: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._current = Form(
                action=attributes.get("action"),
                method=(attributes.get("method") or "get").upper(),
                id=attributes.get("id"),
            )
            self.forms.append(self._current)
        elif tag in ("input", "button"):
            if attributes.get("form") or self._current is None:
                self._orphans.append((tag, attributes))
            else:
                self._add(self._current, tag, attributes)
        elif tag in ("title", "script"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.scripts += data

    def close(self) -> None:
        super().close()
        for tag, attributes in self._orphans:
            target = next((f for f in self.forms if f.id and f.id == attributes.get("form")), None)
            if target is not None:
                self._add(target, tag, attributes)

    @staticmethod
    def _add(form: Form, tag: str, attributes: dict[str, str | None]) -> None:
        kind = (attributes.get("type") or ("submit" if tag == "button" else "text")).lower()
        name, value = attributes.get("name"), attributes.get("value") or ""
        if kind == "submit":
            form.buttons.append((name, value))
        elif kind in ("button", "reset", "image", "file") or name is None:
            return
        else:
            form.fields.append((name, value))


def _request_path(line: str) -> str:
    """The path of a request log line ("GET /jwks?x=1" → "/jwks")."""
    target = line.partition(" ")[2]
    return urlsplit(target).path


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser


@dataclass
class Hop:
    """One request of `BrowserlessAgent.follow`: what was asked, what came back, what the agent
    did next (`redirect`, `login`, `consent`, `logout`, `autosubmit`, `stop` before a URL that
    `stop_at` matched, or `final`). `location` is absolute."""

    method: str
    url: str
    status: int
    location: str | None = None
    action: str = "final"

    @property
    def interaction(self) -> bool:
        """A page of the provider that asks the person something (login or consent)."""
        return self.action in ("login", "consent")


StopAt = str | tuple[str, ...] | Callable[[str], bool] | None


class BrowserlessAgent:
    """A person at a browser, without the browser: one `requests.Session` (one cookie jar, shared
    by the service and the provider: cookies go by host, not port, and the provider's are named
    `_session`, `_interaction`, `_interaction_resume`), following redirects one at a time and
    answering the provider's devInteractions pages: the login form (with `login`), the consent
    form, the end-session confirmation ("Yes, sign me out") and self-submitting form pages.
    """

    def __init__(
        self,
        login: str | None = None,
        *,
        provider: NodeProvider | None = None,
        password: str = "any password",  # noqa: S107 - the development login takes any
        session: requests.Session | None = None,
        max_hops: int = 30,
        timeout: float = 10.0,
    ) -> None:
        self.login = login
        self.provider = provider
        self.password = password
        self.session = session or requests.Session()
        self.max_hops = max_hops
        self.timeout = timeout
        self.hops: list[Hop] = []  # of the last follow()
        self.history: list[Hop] = []  # of every follow()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> BrowserlessAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def follow(
        self,
        url_or_response: str | requests.Response,
        *,
        stop_at: StopAt = None,
        method: str = "GET",
        data: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> tuple[requests.Response, list[Hop]]:
        """Request `url_or_response` (or carry on from a response already had) and follow the
        redirects and the provider's pages until a page that needs nothing of the agent, or
        until the next URL matches `stop_at` (a prefix, prefixes or a predicate): that URL is
        not requested, the last hop's `location` names it. Returns the last response and the
        hops."""
        self.hops = []
        if isinstance(url_or_response, requests.Response):
            response = url_or_response
            request = response.request
            hop = Hop(request.method or "GET", response.url, response.status_code)
        else:
            response = self._send(method, url_or_response, data)
            hop = Hop(method.upper(), url_or_response, response.status_code)
        while True:
            self._record(hop)
            next_request = self._next(response, hop)
            if next_request is None:
                return response, self.hops
            next_method, next_url, next_data = next_request
            if _matches(stop_at, next_url):
                hop.action, hop.location = "stop", next_url
                return response, self.hops
            if len(self.hops) >= self.max_hops:
                raise RuntimeError(f"more than {self.max_hops} hops: {self.hops}")
            response = self._send(next_method, next_url, next_data)
            hop = Hop(next_method, next_url, response.status_code)

    def _send(self, method: str, url: str, data: Any) -> requests.Response:
        return self.session.request(
            method, url, data=data, allow_redirects=False, timeout=self.timeout
        )

    def _record(self, hop: Hop) -> None:
        self.hops.append(hop)
        self.history.append(hop)

    def _next(
        self, response: requests.Response, hop: Hop
    ) -> tuple[str, str, list[tuple[str, str]] | None] | None:
        if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
            hop.location = urljoin(response.url, response.headers["Location"])
            hop.action = "redirect"
            if response.status_code in (307, 308):
                return hop.method, hop.location, _body_fields(response.request)
            return "GET", hop.location, None
        if not self._answers(response):
            return None
        page = parse_page(response.text)
        for form in page.forms:
            names = dict(form.fields)
            if names.get("prompt") == "login":
                if self.login is None:
                    raise RuntimeError("the provider asks for a login and the agent has none")
                hop.action = "login"
                fields = [(n, v) for n, v in form.fields if n not in ("login", "password")]
                return self._submit(
                    response,
                    hop,
                    form,
                    [*fields, ("login", self.login), ("password", self.password)],
                )
            if names.get("prompt") == "consent":
                hop.action = "consent"
                return self._submit(response, hop, form, form.fields)
            if form.id == "op.logoutForm":
                hop.action = "logout"
                yes = [(n, v) for n, v in form.buttons[:1] if n]
                return self._submit(response, hop, form, [*form.fields, *yes])
        if len(page.forms) == 1 and "forms[0].submit()" in page.scripts:
            hop.action = "autosubmit"
            return self._submit(response, hop, page.forms[0], page.forms[0].fields)
        return None

    def _answers(self, response: requests.Response) -> bool:
        """Pages the agent fills in: HTML of the provider (any origin when it has none)."""
        if "html" not in response.headers.get("Content-Type", ""):
            return False
        if self.provider is None or self.provider.issuer is None:
            return True
        return _origin(response.url) == _origin(self.provider.issuer)

    @staticmethod
    def _submit(
        response: requests.Response, hop: Hop, form: Form, fields: list[tuple[str, str]]
    ) -> tuple[str, str, list[tuple[str, str]] | None]:
        target = urljoin(response.url, form.action or response.url)
        hop.location = target
        if form.method == "POST":
            return "POST", target, list(fields)
        separator = "&" if urlsplit(target).query else "?"
        return "GET", f"{target}{separator}{urlencode(fields)}", None


def _matches(stop_at: StopAt, url: str) -> bool:
    if stop_at is None:
        return False
    if callable(stop_at):
        return bool(stop_at(url))
    prefixes = (stop_at,) if isinstance(stop_at, str) else stop_at
    return any(url.startswith(prefix) for prefix in prefixes)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _body_fields(request: requests.PreparedRequest) -> list[tuple[str, str]] | None:
    body = request.body
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode()
    return [(k, v) for k, values in parse_qs(body, keep_blank_values=True).items() for v in values]


# -- the code flow as a plain client ----------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A PKCE `code_verifier` and its S256 `code_challenge`."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_code_tokens(
    provider: NodeProvider,
    client: str | dict[str, Any],
    account: str,
    redirect_uri: str | None = None,
    resource: str | None = None,
    *,
    scope: str = DEFAULT_SCOPE,
    nonce: str | None = None,
    agent: BrowserlessAgent | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the authorization code flow (PKCE S256, state, nonce) as `client` for `account` with
    a BrowserlessAgent (`agent`, or a new one signing in as `account`), and return the token
    endpoint's JSON: `id_token`, `access_token` (a JWT for `resource`), `token_type`, ...

    `client` is a client_id of the provider or its metadata; `redirect_uri` defaults to the
    client's first, `resource` to the provider's resource indicator. Checks `state` and `iss`
    on the way back; raises RuntimeError on an error response.
    """
    metadata = provider.client(client) if isinstance(client, str) else client
    redirect_uri = redirect_uri or metadata["redirect_uris"][0]
    owned = agent is None
    agent = agent or BrowserlessAgent(account, provider=provider)
    try:
        discovery = provider.discovery()
        state, nonce = secrets.token_urlsafe(16), nonce or secrets.token_urlsafe(16)
        verifier, challenge = pkce_pair()
        query = {
            "client_id": metadata["client_id"],
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": resource or provider.resource_indicator,
            **(extra or {}),
        }
        _, hops = agent.follow(
            f"{discovery['authorization_endpoint']}?{urlencode(query)}", stop_at=redirect_uri
        )
        if hops[-1].action != "stop":
            raise RuntimeError(f"the flow did not come back to {redirect_uri}: {hops}")
        callback = parse_qs(urlsplit(hops[-1].location or "").query)
        answer = {key: values[0] for key, values in callback.items()}
        if "error" in answer:
            raise RuntimeError(f"the authorization request failed: {answer}")
        if answer.get("state") != state:
            raise RuntimeError(f"state mismatch: sent {state!r}, got {answer.get('state')!r}")
        if "iss" in answer and answer["iss"] != provider.issuer:
            raise RuntimeError(f"iss mismatch: {answer['iss']!r} is not {provider.issuer!r}")
        body = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        client_id, secret = metadata["client_id"], metadata.get("client_secret", "")
        method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
        if method == "client_secret_post":
            body.update(client_id=client_id, client_secret=secret)
        elif method == "client_secret_basic":
            # RFC 6749 2.3.1: form-encode both before the Basic scheme
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            body["client_id"] = client_id
        response = requests.post(
            discovery["token_endpoint"], data=body, headers=headers, timeout=10
        )
        if response.status_code != 200:
            raise RuntimeError(f"the token request failed: {response.status_code} {response.text}")
        return response.json()
    finally:
        if owned:
            agent.close()
