"""No secret in the logs: every log record of the whole test run is captured (a handler on the
root logger, installed when pytest starts), and at the end of the session none may contain a
secret the run knew of:

* the configuration's secrets, from every `Settings` the run built: `PMSC_SECRET_KEY`, every
  `PMSC_DATA_KEY` key, the OpenID client secret, passwords in database and Redis URLs;
* every API token's secret and every browser session's secret and CSRF token minted in the run;
* every private signing key generated in the run (the test issuer's, the development login's);
* and, by their shape, any JWT (a bearer access token or an ID token) or API token at all.

The spies call through to the real functions; they only remember what those return.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable

from sqlalchemy.engine import make_url

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
API_TOKEN = re.compile(r"pmsct_[0-9a-f]{32}_[A-Za-z0-9_-]{43}")
MIN_SECRET_LENGTH = 12  # shorter values would match by chance
PRIVATE_KEY_PARTS = ("d", "p", "q", "dp", "dq", "qi")


class Capture(logging.Handler):
    """Keeps every record that reaches the root logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record whose arguments do not fit its message: keep the parts
            line = f"{record.msg!r} {record.args!r}"
        self.lines.append(line)


CAPTURE = Capture()
SECRETS: set[str] = set()


def remember(*values: object) -> None:
    """Add secrets to look for (short or empty values are ignored)."""
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            SECRETS.add(value)


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return make_url(url).password
    except Exception:
        return None


def _spy(owner: object, name: str, on_result) -> None:
    original = getattr(owner, name)
    if getattr(original, "__log_secrets_spy__", False):
        return

    @functools.wraps(original)
    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        on_result(result)
        return result

    spy.__log_secrets_spy__ = True
    setattr(owner, name, spy)


def _spy_classmethod(cls: type, name: str, on_result) -> None:
    original = getattr(cls, name)  # bound to cls
    if getattr(original, "__log_secrets_spy__", False):
        return

    @functools.wraps(original)
    def spy(_cls, *args, **kwargs):
        result = original(*args, **kwargs)
        on_result(result)
        return result

    spy.__log_secrets_spy__ = True
    setattr(cls, name, classmethod(spy))


def _settings(settings) -> None:
    remember(settings.secret_key, *settings.data_keys, settings.oidc_client_secret)
    for url in (settings.database_url, settings.admin_database_url, settings.redis_url):
        remember(_url_password(url))


def _private_key(key) -> None:
    parts = key.as_dict(private=True)
    remember(*(parts.get(name) for name in PRIVATE_KEY_PARTS))


def install() -> None:
    """Capture the root logger's records from now on (at INFO, the level the app configures in
    production) and spy on where secrets are made."""
    from joserfc.jwk import ECKey, RSAKey

    from service.access import service as access
    from service.config import Settings

    root = logging.getLogger()
    if CAPTURE not in root.handlers:
        root.addHandler(CAPTURE)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    _spy_classmethod(Settings, "from_env", _settings)
    _spy(access, "create_token", lambda made: remember(made[1]))
    _spy(access, "start_session", lambda made: remember(made[1], made[0].csrf_token))
    _spy_classmethod(RSAKey, "generate_key", _private_key)
    _spy_classmethod(ECKey, "generate_key", _private_key)


def leaks(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Each line that shows a secret, a JWT or an API token (the value itself shortened)."""
    lines = list(lines)
    everything = "\n".join(lines)
    known = [s for s in set(secrets) if len(s) >= MIN_SECRET_LENGTH and s in everything]
    found = []
    if not known and not JWT.search(everything) and not API_TOKEN.search(everything):
        return found
    for line in lines:
        shown = [s for s in known if s in line]
        shown += JWT.findall(line) + API_TOKEN.findall(line)
        if shown:
            hint = ", ".join(f"{s[:6]}…({len(s)} chars)" for s in shown[:3])
            found.append(f"{hint} in: {line[:300]}")
    return found
