"""The service against a real OpenID Provider, driven without a browser.

panva's `oidc-provider` (tests/oidc_provider_harness.py) runs on loopback; the service is served
for real over HTTP on another loopback port, in a background thread; one `requests.Session`
cookie jar is shared by both, as a browser's would be. Covered: the browser sign-in (PKCE S256,
`state`, `nonce`; the session cookie; where each kind of person lands; the account keyed by
(iss, sub) and refreshed at every sign-in; session rotation), a second sign-in without prompts,
logout at the service and at the provider, the issue's "must show" (a branch admin writes in
their branch only, with the CSRF token; reads nothing of another branch; sees no zone rollups; a
zone viewer sees the zone view and no member records), the provider's access tokens as bearer
tokens and every kind of forged or unfit one (401 with `WWW-Authenticate`, never 500), an
unknown `kid` (the JWKS is refetched once, then 401), refused callbacks (a replayed code, a wrong
`state`, no login transaction, the provider's `access_denied`), and a key rotation at the
provider, accepted without restarting the service.

Node.js is needed: without it the module is skipped, unless `PMSC_REQUIRE_NODE=1` (CI), where
it fails instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from service import create_app, schema_migrations
from service.access.models import User, UserSession
from service.config import Settings
from service.database import db
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tests.conftest import PG_URL, VALID_MEMBER, drop_pg_database, environment
from tests.oidc_provider_harness import (
    BrowserlessAgent,
    Hop,
    NodeProvider,
    authorization_code_tokens,
    node_available,
    requires_node,
)

NODE_MISSING = node_available()
pytestmark = requires_node()

A, A_NAME = "hengtong-optics", "亨通光电党支部"
B, B_NAME = "xinghe-tech", "星河科技党支部"
WEB_CLIENT_ID = "pmsc-web"
WEB_CLIENT_SECRET = "web-secret-" + "w" * 32
CLI_CLIENT = {  # an integration's script: gets its own access tokens, never asked for consent
    "client_id": "pmsc-report-script",
    "client_secret": "cli-secret-" + "c" * 32,
    "redirect_uris": ["http://127.0.0.1:9/cli/callback"],
    "post_logout_redirect_uris": [],
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_post",
    "first_party": True,
}
ACCOUNTS = {
    "secretary-a": {
        "name": "李书记",
        "preferred_username": "secretary-a",
        "email": "secretary-a@example.test",
        "groups": [f"pmsc:branch:{A}:admin"],
    },
    "two-branches": {
        "name": "周委员",
        "preferred_username": "two-branches",
        "groups": [f"pmsc:branch:{A}:admin", f"pmsc:branch:{B}:member"],
    },
    "committee-viewer": {"name": "工委干部", "groups": ["pmsc:zone:viewer"]},
    "no-groups": {"name": "访客"},
    # a person whose groups the tests change between two sign-ins
    "moving-secretary": {"name": "吴书记", "groups": [f"pmsc:branch:{A}:admin"]},
}
SESSION_COOKIE = "pmsc_session"
LOGIN_COOKIE = "pmsc_login"
ME = "/api/v1/me"


# -- the service, served for real ---------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request: noise
        pass


class LiveServer:
    """An HTTP server on a free loopback port, in a background thread. The socket is bound
    first (the provider must know the callback URL), the app is plugged in afterwards."""

    def __init__(self) -> None:
        self._app: Flask | None = None
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    def _wsgi(self, environ: dict, start_response: Callable) -> Any:
        assert self._app is not None, "no app is served yet"
        return self._app(environ, start_response)

    def serve(self, app: Flask) -> None:
        self._app = app
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()


def web_client(*bases: str) -> dict[str, Any]:
    """The service's client at the provider, for the service served at each of `bases`."""
    return {
        "client_id": WEB_CLIENT_ID,
        "client_secret": WEB_CLIENT_SECRET,
        "redirect_uris": [f"{base}/auth/callback" for base in bases],
        "post_logout_redirect_uris": [f"{base}/" for base in bases],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


@dataclass
class Site:
    """The service at `base`, signing in at `provider`, with branches A and B registered."""

    base: str
    app: Flask
    provider: NodeProvider
    discovery: dict[str, Any]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def start_site(
    server: LiveServer, provider: NodeProvider, backend: str, tmp: Path
) -> tuple[Site, str | None]:
    """Migrate a fresh database, build the app against the provider, register A and B, serve
    it on `server`; returns the site and the PostgreSQL database's name (to drop)."""
    env, database = environment(
        backend,
        tmp,
        PMSC_OIDC_ISSUER=provider.issuer or "",
        PMSC_OIDC_AUDIENCE=provider.resource,
        PMSC_OIDC_CLIENT_ID=WEB_CLIENT_ID,
        PMSC_OIDC_CLIENT_SECRET=WEB_CLIENT_SECRET,
        PMSC_OIDC_SCOPES="openid profile email groups",
        PMSC_SESSION_COOKIE_SECURE="0",  # plain http on loopback
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    app = create_app(env)
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        for slug, name in ((A, A_NAME), (B, B_NAME)):
            provisioning.create_tenant(
                session,
                slug=slug,
                name=name,
                enterprise_name=f"{name[:4]}有限公司",
                enterprise_type="private",
                industry="制造",
                employee_count=300,
                organization_type="branch",
            )
        session.commit()
        session.close()
    server.serve(app)
    return Site(server.base, app, provider, provider.discovery()), database


def close_site(site: Site, database: str | None) -> None:
    with site.app.app_context():
        db.engine.dispose()
    if database:
        drop_pg_database(database)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, LiveServer]]:
    bound = {"sqlite": LiveServer()}
    if PG_URL:
        bound["postgresql"] = LiveServer()
    yield bound
    for server in bound.values():
        server.stop()


@pytest.fixture(scope="module")
def provider(servers: dict[str, LiveServer]) -> Iterator[NodeProvider]:
    if NODE_MISSING is not None:
        pytest.fail(f"PMSC_REQUIRE_NODE=1, but {NODE_MISSING}", pytrace=False)
    bases = [server.base for server in servers.values()]
    with NodeProvider(clients=[web_client(*bases), CLI_CLIENT], accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture(scope="module")
def site(servers, provider, tmp_path_factory) -> Iterator[Site]:
    started, database = start_site(
        servers["sqlite"], provider, "sqlite", tmp_path_factory.mktemp("signin-sqlite")
    )
    yield started
    close_site(started, database)


@pytest.fixture(scope="module")
def pg_site(servers, provider, tmp_path_factory) -> Iterator[Site]:
    if "postgresql" not in servers:
        pytest.skip("PMSC_TEST_DATABASE_URL is not set (CI sets it)")
    started, database = start_site(
        servers["postgresql"], provider, "postgresql", tmp_path_factory.mktemp("signin-pg")
    )
    yield started
    close_site(started, database)


# -- a person at a browser ----------------------------------------------------------------------


@dataclass
class SignIn:
    authorization: dict[str, str]  # the query of the authorization request the service sent
    hops: list[Hop]  # from /login to the provider's redirect back to the service
    callback: requests.Response  # the service's answer at /auth/callback
    landing: requests.Response  # the page the person lands on

    @property
    def set_cookies(self) -> list[str]:
        return self.callback.raw.headers.getlist("Set-Cookie")

    def set_cookie(self, name: str) -> list[str]:
        """The attributes of the `Set-Cookie` of `name` in the callback's answer."""
        line = next(c for c in self.set_cookies if c.startswith(f"{name}="))
        return [part.strip() for part in line.split(";")]


def sign_in(site: Site, agent: BrowserlessAgent) -> SignIn:
    """/login → the provider (login and consent as needed) → /auth/callback → the landing."""
    callback_url = site.url("/auth/callback")
    _, hops = agent.follow(site.url("/login"), stop_at=callback_url)
    assert hops[-1].action == "stop", hops
    authorize = hops[0].location or ""
    assert authorize.startswith(site.discovery["authorization_endpoint"] + "?"), hops
    query = {key: values[0] for key, values in parse_qs(urlsplit(authorize).query).items()}
    callback = agent.session.get(hops[-1].location, allow_redirects=False, timeout=10)
    landing, _ = agent.follow(callback)
    return SignIn(query, hops, callback, landing)


def browser(site: Site, login: str) -> BrowserlessAgent:
    return BrowserlessAgent(login, provider=site.provider)


def session_cookie(agent: BrowserlessAgent) -> str | None:
    return agent.session.cookies.get(SESSION_COOKIE)


def csrf_token(site: Site, agent: BrowserlessAgent) -> str:
    me = agent.session.get(site.url(ME), timeout=10)
    assert me.status_code == 200, me.text
    return me.json()["csrf_token"]


def get(url: str, **kwargs: Any) -> requests.Response:
    """A request from somewhere else: no jar but the cookies given."""
    return requests.get(url, allow_redirects=False, timeout=10, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_row(site: Site, subject: str) -> list[User]:
    with site.app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        rows = list(session.scalars(select(User).where(User.subject == subject)))
        session.close()
    return rows


def member_total(site: Site, agent: BrowserlessAgent, slug: str) -> int:
    response = agent.session.get(
        site.url(f"/api/v1/t/{slug}/members"), params={"page_size": 1}, timeout=10
    )
    assert response.status_code == 200, response.text
    return json.loads(response.headers["X-Pagination"])["total"]


def assert_token_refused(response: requests.Response) -> str:
    """A 401 in the API's error shape with a bearer challenge; returns the challenge."""
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="pmsc"'), challenge
    assert 'error="invalid_token"' in challenge, challenge
    body = response.json()
    assert body["code"] == 401 and body["message"].startswith("Authentication failed: ")
    return challenge


def assert_sign_in_refused(response: requests.Response, why: str) -> None:
    """The callback's refusal: 401, a challenge, the sign-in-failed page naming `why`, and no
    session."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="pmsc"')
    assert response.headers["Content-Type"].startswith("text/html")
    assert "登录失败" in response.text
    assert why in response.text, response.text
    sent = response.raw.headers.getlist("Set-Cookie")
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in sent), sent


# -- tokens of our own making -------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_claims(provider: NodeProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "sub": "secretary-a",
        "aud": provider.resource,
        "iat": now,
        "exp": now + 600,
        "groups": [f"pmsc:branch:{A}:admin"],
    }
    claims.update(changes)
    return claims


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 JWT whose HMAC key is `secret` (here: the provider's public key)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def flip_signature_byte(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(b64decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64(bytes(raw))}"


@pytest.fixture(scope="module")
def secretary_tokens(provider) -> dict[str, Any]:
    """The token endpoint's answer for secretary-a, through the integration's client."""
    return authorization_code_tokens(provider, CLI_CLIENT["client_id"], "secretary-a")


# -- 1. the browser sign-in ---------------------------------------------------------------------


def test_sign_in_runs_the_code_flow_with_pkce_state_and_nonce(site):
    with browser(site, "secretary-a") as agent:
        signed_in = sign_in(site, agent)
        actions = [hop.action for hop in signed_in.hops]

    asked = signed_in.authorization
    assert asked["response_type"] == "code"
    assert asked["client_id"] == WEB_CLIENT_ID
    assert asked["redirect_uri"] == site.url("/auth/callback")
    assert set(asked["scope"].split()) == {"openid", "profile", "email", "groups"}
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["code_challenge"]) == 43  # a base64url SHA-256, not the verifier itself
    assert len(asked["state"]) >= 16 and len(asked["nonce"]) >= 16
    assert "login" in actions and "consent" in actions  # the provider's own pages
    back = parse_qs(urlsplit(signed_in.hops[-1].location).query)
    assert back["state"] == [asked["state"]] and back["code"]


def test_sign_in_sets_an_httponly_lax_session_cookie_and_drops_the_login_transaction(site):
    with browser(site, "secretary-a") as agent:
        signed_in = sign_in(site, agent)
        jar = {cookie.name for cookie in agent.session.cookies if cookie.domain.startswith("127")}

    assert signed_in.callback.status_code == 302
    attributes = signed_in.set_cookie(SESSION_COOKIE)
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert "Secure" not in attributes  # PMSC_SESSION_COOKIE_SECURE=0: plain http in tests
    assert len(attributes[0].split("=", 1)[1]) >= 40  # a random secret, not a user id
    # the state, nonce and PKCE verifier are forgotten once used
    login_cookie = signed_in.set_cookie(LOGIN_COOKIE)
    assert login_cookie[0] == f"{LOGIN_COOKIE}=" and any(
        a.startswith("Expires=Thu, 01 Jan 1970") for a in login_cookie
    )
    assert SESSION_COOKIE in jar and LOGIN_COOKIE not in jar


def test_a_secretary_of_one_branch_lands_in_it(site):
    with browser(site, "secretary-a") as agent:
        signed_in = sign_in(site, agent)
        me = agent.session.get(site.url(ME), timeout=10).json()

    assert signed_in.callback.headers["Location"] in (f"/t/{A}/", site.url(f"/t/{A}/"))
    assert signed_in.landing.url == site.url(f"/t/{A}/")
    assert signed_in.landing.status_code == 200
    assert A_NAME in signed_in.landing.text
    assert me["issuer"] == site.provider.issuer and me["subject"] == "secretary-a"
    assert me["name"] == "李书记"
    assert [(b["slug"], b["roles"]) for b in me["branches"]] == [(A, ["branch:admin"])]
    assert me["zone_roles"] == []


def test_a_person_with_two_branches_lands_on_the_chooser_listing_both(site):
    with browser(site, "two-branches") as agent:
        signed_in = sign_in(site, agent)

    assert signed_in.landing.url == site.url("/spaces")
    assert signed_in.landing.status_code == 200
    page = signed_in.landing.text
    assert A_NAME in page and B_NAME in page
    assert f"/t/{A}/" in page and f"/t/{B}/" in page


def test_a_committee_viewer_lands_in_the_zone_view(site):
    with browser(site, "committee-viewer") as agent:
        signed_in = sign_in(site, agent)

    assert signed_in.landing.url == site.url("/zone/")
    assert signed_in.landing.status_code == 200
    assert A_NAME in signed_in.landing.text and B_NAME in signed_in.landing.text


def test_a_person_without_groups_lands_on_an_empty_chooser(site):
    with browser(site, "no-groups") as agent:
        signed_in = sign_in(site, agent)
        me = agent.session.get(site.url(ME), timeout=10).json()

    assert signed_in.landing.url == site.url("/spaces")
    assert signed_in.landing.status_code == 200
    assert A_NAME not in signed_in.landing.text and B_NAME not in signed_in.landing.text
    assert me["branches"] == [] and me["zone_roles"] == []


def test_the_account_is_keyed_by_issuer_and_subject_and_refreshed_at_every_sign_in(site):
    with browser(site, "moving-secretary") as agent:
        first = sign_in(site, agent)
        [before] = user_row(site, "moving-secretary")
        site.provider.set_account(
            "moving-secretary",
            {"name": "吴主任", "groups": [f"pmsc:branch:{A}:admin", f"pmsc:branch:{B}:member"]},
        )
        try:
            second = sign_in(site, agent)
        finally:
            site.provider.set_account("moving-secretary", ACCOUNTS["moving-secretary"])
        [after] = user_row(site, "moving-secretary")

    assert first.landing.url == site.url(f"/t/{A}/")
    assert (before.issuer, before.subject) == (site.provider.issuer, "moving-secretary")
    assert before.groups == [f"pmsc:branch:{A}:admin"]
    # the same account, its name and groups (so its roles) from the latest ID token
    assert after.id == before.id
    assert after.name == "吴主任"
    assert after.groups == sorted([f"pmsc:branch:{A}:admin", f"pmsc:branch:{B}:member"])
    assert after.last_sign_in_at > before.last_sign_in_at
    assert second.landing.url == site.url("/spaces")  # two branches now: the chooser


def test_a_second_sign_in_asks_nothing_and_rotates_the_session(site):
    with browser(site, "secretary-a") as agent:
        first = sign_in(site, agent)
        old = session_cookie(agent)
        second = sign_in(site, agent)
        new = session_cookie(agent)
        actions = [hop.action for hop in second.hops]

        assert not any(hop.interaction for hop in second.hops), actions
        assert not any("/interaction/" in hop.url for hop in second.hops)
        assert actions == ["redirect", "stop"]  # /login → provider → straight back with a code
        assert first.landing.url == second.landing.url == site.url(f"/t/{A}/")
        assert old and new and new != old
        assert agent.session.get(site.url(ME), timeout=10).status_code == 200
    assert_token_refused(get(site.url(ME), cookies={SESSION_COOKIE: old}))
    # a page asked with the ended session sends the person to sign in again
    page = get(site.url(f"/t/{A}/"), cookies={SESSION_COOKIE: old})
    assert page.status_code == 302 and "/login" in page.headers["Location"]


# -- logout -------------------------------------------------------------------------------------


def test_logout_ends_the_session_here_and_at_the_provider(site):
    with browser(site, "secretary-a") as agent:
        sign_in(site, agent)
        old = session_cookie(agent)
        token = csrf_token(site, agent)

        final, hops = agent.follow(site.url("/logout"), method="POST", data={"csrf_token": token})
        end_session = urlsplit(hops[0].location)
        hint = parse_qs(end_session.query)

        assert hops[0].method == "POST" and hops[0].status == 302
        assert hops[0].location.startswith(site.discovery["end_session_endpoint"] + "?")
        assert hint["post_logout_redirect_uri"] == [site.url("/")]
        assert hint["client_id"] == [WEB_CLIENT_ID]
        id_token = jwt.decode(
            hint["id_token_hint"][0], KeySet.import_key_set(site.provider.jwks())
        ).claims
        assert (id_token["sub"], id_token["aud"]) == ("secretary-a", WEB_CLIENT_ID)
        assert "logout" in [hop.action for hop in hops]  # the provider's confirmation
        assert final.url == site.url("/") and final.status_code == 200
        assert 'href="/login"' in final.text  # the guest's landing page
        assert session_cookie(agent) is None

        assert_token_refused(get(site.url(ME), cookies={SESSION_COOKIE: old}))
        again = sign_in(site, agent)  # signed out at the provider too: asked to log in
        assert "login" in [hop.action for hop in again.hops]


def test_logout_without_the_csrf_token_is_refused_and_the_session_lives_on(site):
    with browser(site, "secretary-a") as agent:
        sign_in(site, agent)
        cookie = session_cookie(agent)

        refused = agent.session.post(site.url("/logout"), allow_redirects=False, timeout=10)
        forged = agent.session.post(
            site.url("/logout"), data={"csrf_token": "x" * 43}, allow_redirects=False, timeout=10
        )

        assert refused.status_code == 403 and forged.status_code == 403
        assert refused.headers["Content-Type"].startswith("text/html")
        assert session_cookie(agent) == cookie
        assert agent.session.get(site.url(ME), timeout=10).status_code == 200


# -- must show ----------------------------------------------------------------------------------


def test_a_branch_admin_signed_in_by_browser_writes_in_their_branch_with_the_csrf_token(site):
    member = {**VALID_MEMBER, "name": "陈静"}
    with browser(site, "secretary-a") as agent:
        sign_in(site, agent)
        token = csrf_token(site, agent)
        members = site.url(f"/api/v1/t/{A}/members")
        before = member_total(site, agent, A)

        without = agent.session.post(members, json=member, timeout=10)
        wrong = agent.session.post(
            members, json=member, headers={"X-CSRF-Token": "x" * 43}, timeout=10
        )
        assert without.status_code == 403 and wrong.status_code == 403
        assert "CSRF" in without.json()["message"]
        assert member_total(site, agent, A) == before  # nothing written

        written = agent.session.post(
            members, json=member, headers={"X-CSRF-Token": token}, timeout=10
        )
        assert written.status_code == 201, written.text
        assert written.json()["name"] == "陈静"
        assert member_total(site, agent, A) == before + 1


def branch_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, path) of every API endpoint inside a branch, with placeholder ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/t/<tenant_slug>"):
            continue
        path = rule.rule.replace("<tenant_slug>", B)
        for argument in rule.arguments - {"tenant_slug"}:
            path = path.replace(f"<uuid:{argument}>", str(uuid.uuid4()))
            path = path.replace(f"<{argument}>", "x")
        routes += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_a_branch_admin_reads_and_writes_nothing_of_another_branch(site):
    routes = branch_routes(site.app)
    assert {path.split("/")[5] for _, path in routes} >= {"members", "party-groups", "audit"}
    with browser(site, "secretary-a") as agent:
        sign_in(site, agent)
        token = csrf_token(site, agent)
        answers = {
            (method, path): agent.session.request(
                method,
                site.url(path),
                json={},
                headers={"X-CSRF-Token": token, "If-Match": "*"},
                timeout=10,
            )
            for method, path in routes
        }
        page = agent.session.get(site.url(f"/t/{B}/"), allow_redirects=False, timeout=10)
        unknown = agent.session.get(site.url("/api/v1/t/no-such-branch/members"), timeout=10)

    assert {key: r.status_code for key, r in answers.items()} == dict.fromkeys(answers, 404)
    # the same answer as for a branch that does not exist: existence is not disclosed
    assert unknown.status_code == 404
    not_found = unknown.json()["message"].replace("no-such-branch", B)
    assert answers[("GET", f"/api/v1/t/{B}/members")].json()["message"] == not_found
    assert page.status_code == 404 and B_NAME not in page.text


def test_a_branch_admin_sees_no_zone_rollups(site):
    with browser(site, "secretary-a") as agent:
        sign_in(site, agent)
        tenants = agent.session.get(site.url("/api/v1/zone/tenants"), timeout=10)
        audit = agent.session.get(site.url("/api/v1/zone/audit"), timeout=10)
        page = agent.session.get(site.url("/zone/"), allow_redirects=False, timeout=10)

    assert tenants.status_code == 403 and audit.status_code == 403
    assert page.status_code == 403
    assert B_NAME not in page.text


def test_a_zone_viewer_sees_the_zone_view_and_no_member_records(site):
    with browser(site, "committee-viewer") as agent:
        sign_in(site, agent)
        page = agent.session.get(site.url("/zone/"), timeout=10)
        tenants = agent.session.get(site.url("/api/v1/zone/tenants"), timeout=10)
        members = agent.session.get(site.url(f"/api/v1/t/{A}/members"), timeout=10)
        one = agent.session.get(site.url(f"/api/v1/t/{A}/members/{uuid.uuid4()}"), timeout=10)
        branch_page = agent.session.get(site.url(f"/t/{A}/"), allow_redirects=False, timeout=10)

    assert page.status_code == 200 and A_NAME in page.text and B_NAME in page.text
    assert tenants.status_code == 200
    assert {t["slug"] for t in tenants.json()} == {A, B}
    assert members.status_code == 403 and one.status_code == 403
    assert branch_page.status_code == 403
    assert "张伟" not in members.text and "陈静" not in members.text


# -- bearer tokens from the provider ------------------------------------------------------------


def test_an_access_token_from_the_provider_opens_the_api_with_the_roles_of_its_groups(site):
    tokens = authorization_code_tokens(site.provider, CLI_CLIENT["client_id"], "two-branches")
    access = jwt.decode(tokens["access_token"], KeySet.import_key_set(site.provider.jwks()))
    assert access.claims["aud"] == site.provider.resource
    assert access.claims["groups"] == ACCOUNTS["two-branches"]["groups"]

    me = get(site.url(ME), headers=bearer(tokens["access_token"]))
    # no cookie, no CSRF token: a bearer request may write without one
    group = requests.post(
        site.url(f"/api/v1/t/{A}/party-groups"),
        json={"name": "第一党小组"},
        headers=bearer(tokens["access_token"]),
        timeout=10,
    )
    member_read = get(site.url(f"/api/v1/t/{B}/members"), headers=bearer(tokens["access_token"]))
    member_write = requests.post(
        site.url(f"/api/v1/t/{B}/party-groups"),
        json={"name": "第二党小组"},
        headers=bearer(tokens["access_token"]),
        timeout=10,
    )

    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["issuer"], body["subject"]) == (site.provider.issuer, "two-branches")
    assert {b["slug"]: b["roles"] for b in body["branches"]} == {
        A: ["branch:admin"],
        B: ["branch:member"],
    }
    assert body["zone_roles"] == [] and body["csrf_token"] is None
    assert group.status_code == 201, group.text
    assert member_read.status_code == 200
    assert member_write.status_code == 403  # a member of B reads, does not write


def test_an_id_token_is_not_an_access_token(site, secretary_tokens):
    # the ID token is for the client (aud = client_id), not for the API
    assert_token_refused(get(site.url(ME), headers=bearer(secretary_tokens["id_token"])))


def public_jwk(provider: NodeProvider) -> dict[str, Any]:
    return provider.jwks()["keys"][0]


FORGERIES: dict[str, Callable[[NodeProvider, dict[str, Any]], str]] = {
    "tampered signature": lambda p, tokens: flip_signature_byte(tokens["access_token"]),
    "wrong iss": lambda p, _: p.sign(access_claims(p, iss="https://idp.example.test")),
    "iss with a trailing slash": lambda p, _: p.sign(access_claims(p, iss=f"{p.issuer}/")),
    "wrong aud": lambda p, _: p.sign(access_claims(p, aud="another-api")),
    "expired beyond the leeway": lambda p, _: p.sign(
        access_claims(p, iat=int(time.time()) - 900, exp=int(time.time()) - 60)
    ),
    "nbf in the future": lambda p, _: p.sign(
        access_claims(p, nbf=int(time.time()) + 300, exp=int(time.time()) + 900)
    ),
    "no exp": lambda p, _: p.sign({k: v for k, v in access_claims(p).items() if k != "exp"}),
    "alg none": lambda p, _: (
        f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
        f"{b64(json.dumps(access_claims(p)).encode())}."
    ),
    "HS256 keyed with the public key as PEM": lambda p, _: hs256(
        access_claims(p), RSAKey.import_key(public_jwk(p)).as_pem(), public_jwk(p)["kid"]
    ),
    "HS256 keyed with the public key as JWK JSON": lambda p, _: hs256(
        access_claims(p), json.dumps(public_jwk(p)).encode(), public_jwk(p)["kid"]
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_unfit_bearer_token_is_refused(site, secretary_tokens, forgery):
    token = FORGERIES[forgery](site.provider, secretary_tokens)
    good = get(site.url(ME), headers=bearer(secretary_tokens["access_token"]))
    assert good.status_code == 200  # the genuine token works: the refusal is the forgery's

    for path in (ME, f"/api/v1/t/{A}/members"):
        assert_token_refused(get(site.url(path), headers=bearer(token)))


def test_an_unknown_kid_refetches_the_jwks_once_then_is_refused(site):
    provider = site.provider
    jwks_path = urlsplit(site.discovery["jwks_uri"]).path
    # the service holds the provider's keys (its first fetch opens no refetch window, and no
    # other test of this site sends an unknown kid, so the window is open now)
    assert get(site.url(ME), headers=bearer(provider.sign(access_claims(provider)))).ok
    stranger = RSAKey.generate_key(
        2048, parameters={"kid": f"not-published-{uuid.uuid4().hex[:8]}", "use": "sig"}
    )
    other = RSAKey.import_key(
        stranger.as_dict(private=True), parameters={"kid": f"also-unknown-{uuid.uuid4().hex[:8]}"}
    )
    before = provider.requests_to(jwks_path)

    first = get(site.url(ME), headers=bearer(provider.sign(access_claims(provider), key=stranger)))
    after_first = provider.requests_to(jwks_path)
    second = get(site.url(ME), headers=bearer(provider.sign(access_claims(provider), key=other)))
    after_second = provider.requests_to(jwks_path)

    assert stranger.kid in assert_token_refused(first)
    assert after_first == before + 1  # the provider might have rotated: asked once
    assert other.kid in assert_token_refused(second)
    assert after_second == after_first  # within 10 s: not again
    assert get(site.url(ME), headers=bearer(provider.sign(access_claims(provider)))).ok


# -- refused callbacks --------------------------------------------------------------------------


def test_a_replayed_authorization_code_is_refused(site):
    callback_url = site.url("/auth/callback")
    with browser(site, "secretary-a") as agent:
        _, hops = agent.follow(site.url("/login"), stop_at=callback_url)
        returned = hops[-1].location
        transaction = agent.session.cookies.get(LOGIN_COOKIE)  # state, nonce, PKCE verifier
        first = agent.session.get(returned, allow_redirects=False, timeout=10)
        assert first.status_code == 302 and session_cookie(agent)

    # the same callback, with the login transaction it was issued for, from another jar
    replayed = get(returned, cookies={LOGIN_COOKIE: transaction})

    assert_sign_in_refused(replayed, "invalid_grant")


def test_a_callback_with_a_wrong_state_is_refused(site):
    callback_url = site.url("/auth/callback")
    with browser(site, "secretary-a") as agent:
        _, hops = agent.follow(site.url("/login"), stop_at=callback_url)
        parts = urlsplit(hops[-1].location)
        query = parse_qs(parts.query)
        query["state"] = [query["state"][0][:-2] + "xy"]
        tampered = parts._replace(query=urlencode(query, doseq=True)).geturl()

        refused = agent.session.get(tampered, allow_redirects=False, timeout=10)

        assert_sign_in_refused(refused, "mismatching_state")
        assert session_cookie(agent) is None


def test_a_callback_without_a_login_transaction_is_refused(site):
    bare = get(site.url("/auth/callback"))
    guessed = get(site.url("/auth/callback?code=abc&state=def"))

    assert_sign_in_refused(bare, "mismatching_state")
    assert_sign_in_refused(guessed, "mismatching_state")


def test_the_provider_answering_access_denied_is_a_refused_sign_in(site):
    with browser(site, "secretary-a") as agent:
        _, hops = agent.follow(site.url("/login"), stop_at=lambda url: "/interaction/" in url)
        interaction = hops[-1].location
        # the person cancels at the provider's login page
        refused, hops = agent.follow(f"{interaction}/abort")
        back = next(h for h in hops if h.url.startswith(site.url("/auth/callback")))

        assert parse_qs(urlsplit(back.url).query)["error"] == ["access_denied"]
        assert_sign_in_refused(refused, "access_denied")
        assert session_cookie(agent) is None


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_sign_in_and_a_cookie_write_work_on_postgresql(pg_site):
    with browser(pg_site, "secretary-a") as agent:
        signed_in = sign_in(pg_site, agent)
        token = csrf_token(pg_site, agent)
        without = agent.session.post(
            pg_site.url(f"/api/v1/t/{A}/members"), json=VALID_MEMBER, timeout=10
        )
        written = agent.session.post(
            pg_site.url(f"/api/v1/t/{A}/members"),
            json=VALID_MEMBER,
            headers={"X-CSRF-Token": token},
            timeout=10,
        )
        other = agent.session.get(pg_site.url(f"/api/v1/t/{B}/members"), timeout=10)
        total = member_total(pg_site, agent, A)

    assert "HttpOnly" in signed_in.set_cookie(SESSION_COOKIE)
    assert signed_in.landing.url == pg_site.url(f"/t/{A}/") and A_NAME in signed_in.landing.text
    [user] = user_row(pg_site, "secretary-a")
    assert user.issuer == pg_site.provider.issuer
    assert without.status_code == 403
    assert written.status_code == 201, written.text
    assert other.status_code == 404
    assert total == 1


# -- key rotation (a provider and a service of its own) -----------------------------------------


@pytest.fixture
def rotating_site(tmp_path) -> Iterator[Site]:
    if NODE_MISSING is not None:
        pytest.fail(f"PMSC_REQUIRE_NODE=1, but {NODE_MISSING}", pytrace=False)
    server = LiveServer()
    try:
        with NodeProvider(clients=[web_client(server.base), CLI_CLIENT], accounts=ACCOUNTS) as p:
            started, database = start_site(server, p, "sqlite", tmp_path)
            yield started
            close_site(started, database)
    finally:
        server.stop()


def session_kids(site: Site, subject: str) -> list[str]:
    """The `kid` of the ID token of each of the person's live sessions, oldest first."""
    with site.app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        tokens = session.scalars(
            select(UserSession.id_token)
            .join(User, User.id == UserSession.user_id)
            .where(User.subject == subject)
            .order_by(UserSession.created_at)
        )
        headers = [json.loads(b64decode(t.split(".")[0])) for t in tokens]
        session.close()
    return [header["kid"] for header in headers]


def test_a_key_rotation_at_the_provider_is_accepted_without_restarting_the_service(rotating_site):
    site, provider = rotating_site, rotating_site.provider
    with browser(site, "secretary-a") as agent:
        assert sign_in(site, agent).landing.url == site.url(f"/t/{A}/")
    before = authorization_code_tokens(provider, CLI_CLIENT["client_id"], "secretary-a")
    assert get(site.url(ME), headers=bearer(before["access_token"])).status_code == 200
    old_kid = provider.keys[0].kid

    new_kid = provider.rotate_keys()[0].kid  # same issuer, same port; the old key is gone

    with browser(site, "secretary-a") as agent:
        again = sign_in(site, agent)
    assert again.callback.status_code == 302, again.callback.text
    assert again.landing.url == site.url(f"/t/{A}/")
    assert session_kids(site, "secretary-a")[-1] == new_kid != old_kid
    after = authorization_code_tokens(provider, CLI_CLIENT["client_id"], "secretary-a")
    me = get(site.url(ME), headers=bearer(after["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == "secretary-a"
    # a token signed with the withdrawn key is not accepted any more
    assert_token_refused(get(site.url(ME), headers=bearer(before["access_token"])))
