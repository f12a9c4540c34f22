"""Settings from `PMSC_*` environment variables, parsed strictly.

A bad value stops the process with a message naming the variable; secrets never appear in a repr.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from service.auth.role_map import RoleMap, RoleMapError

ENVIRONMENTS = ("development", "testing", "production")
ALLOWED_JWT_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
)
DEV_LOGIN_ISSUER = "urn:pmsc:development-login"
DEV_LOGIN_AUDIENCE = "pmsc"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, repr=False)
class Settings:
    """The service's settings. Build with `Settings.from_env`."""

    env: str
    instance_path: Path
    database_url: str
    admin_database_url: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    data_keys: tuple[str, ...] = field(repr=False)
    oidc_issuer: str | None
    oidc_audience: str | None
    oidc_algorithms: tuple[str, ...]
    groups_claim: str
    role_map: RoleMap = field(repr=False)
    oidc_client_id: str | None
    oidc_client_secret: str | None = field(repr=False)
    oidc_scopes: str
    session_idle: timedelta
    session_lifetime: timedelta
    session_cookie_secure: bool
    db_app_role: str
    dev_login: bool
    max_body_bytes: int

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if f.name.endswith("_url") and value:
                    value = _without_password(value)
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse the settings from `environ` (default: the process environment)."""
        env_vars = dict(os.environ if environ is None else environ)
        env = _choice(env_vars, "PMSC_ENV", ENVIRONMENTS, "development")
        instance = Path(env_vars.get("PMSC_INSTANCE_PATH") or "instance").resolve()
        production = env == "production"

        database_url = _database_url(
            env_vars.get("PMSC_DATABASE_URL") or f"sqlite:///{instance / 'pmsc.sqlite3'}",
            "PMSC_DATABASE_URL",
        )
        admin_url = _database_url(
            env_vars.get("PMSC_ADMIN_DATABASE_URL") or database_url, "PMSC_ADMIN_DATABASE_URL"
        )
        redis_url = env_vars.get("PMSC_REDIS_URL") or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("PMSC_REDIS_URL must start with redis://, rediss:// or unix://")
        if redis_url and not _well_formed(redis_url):
            raise ConfigError("PMSC_REDIS_URL is not a valid URL (check its host and port)")

        dev_login = _flag(env_vars, "PMSC_DEV_LOGIN", default=False)
        if dev_login and env != "development":
            raise ConfigError(
                "PMSC_DEV_LOGIN=1 is allowed only with PMSC_ENV=development "
                f"(PMSC_ENV is {env!r}); the development login must never run in production"
            )

        secret_key = env_vars.get("PMSC_SECRET_KEY") or ""
        if not secret_key:
            if production:
                raise ConfigError("PMSC_SECRET_KEY is required when PMSC_ENV=production")
            secret_key = instance_secret(instance, "secret-key", lambda: secrets.token_urlsafe(48))
        elif len(secret_key) < 32:
            raise ConfigError("PMSC_SECRET_KEY must be at least 32 characters long")

        raw_keys = env_vars.get("PMSC_DATA_KEY") or ""
        if not raw_keys:
            if production:
                raise ConfigError("PMSC_DATA_KEY is required when PMSC_ENV=production")
            raw_keys = instance_secret(instance, "data-key", lambda: Fernet.generate_key().decode())
        data_keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
        for index, key in enumerate(data_keys):
            _check_fernet_key(key, index)

        issuer = (env_vars.get("PMSC_OIDC_ISSUER") or "").rstrip("/") or None
        if issuer and not issuer.startswith(("https://", "http://")):
            raise ConfigError("PMSC_OIDC_ISSUER must be an http(s) URL")
        if issuer and production and not issuer.startswith("https://"):
            raise ConfigError("PMSC_OIDC_ISSUER must use https:// in production")
        audience = env_vars.get("PMSC_OIDC_AUDIENCE") or None
        if issuer and not audience:
            raise ConfigError("PMSC_OIDC_AUDIENCE is required when PMSC_OIDC_ISSUER is set")

        algorithms = tuple(
            a.strip()
            for a in (env_vars.get("PMSC_OIDC_ALGORITHMS") or "RS256,ES256,PS256").split(",")
            if a.strip()
        )
        for alg in algorithms:
            if alg not in ALLOWED_JWT_ALGORITHMS:
                raise ConfigError(
                    f"PMSC_OIDC_ALGORITHMS: {alg!r} is not allowed; "
                    f"choose from {', '.join(ALLOWED_JWT_ALGORITHMS)}"
                )

        client_id = env_vars.get("PMSC_OIDC_CLIENT_ID") or None
        client_secret = env_vars.get("PMSC_OIDC_CLIENT_SECRET") or None
        if client_id and not issuer:
            raise ConfigError("PMSC_OIDC_CLIENT_ID needs PMSC_OIDC_ISSUER")
        if client_id and not client_secret:
            raise ConfigError("PMSC_OIDC_CLIENT_SECRET is required with PMSC_OIDC_CLIENT_ID")
        scopes = " ".join((env_vars.get("PMSC_OIDC_SCOPES") or "openid profile email").split())
        if "openid" not in scopes.split():
            raise ConfigError("PMSC_OIDC_SCOPES must include openid")
        cookie_secure = _flag(env_vars, "PMSC_SESSION_COOKIE_SECURE", default=env != "development")
        if production and not cookie_secure:
            raise ConfigError("PMSC_SESSION_COOKIE_SECURE=0 is not allowed in production")

        app_role = env_vars.get("PMSC_DB_APP_ROLE") or "pmsc_app"
        if not _ROLE_NAME.match(app_role):
            raise ConfigError("PMSC_DB_APP_ROLE must be a lower-case SQL identifier")

        return cls(
            env=env,
            instance_path=instance,
            database_url=database_url,
            admin_database_url=admin_url,
            redis_url=redis_url,
            secret_key=secret_key,
            data_keys=data_keys,
            oidc_issuer=issuer,
            oidc_audience=audience,
            oidc_algorithms=algorithms,
            groups_claim=env_vars.get("PMSC_GROUPS_CLAIM") or "groups",
            role_map=_role_map(env_vars.get("PMSC_ROLE_MAP")),
            oidc_client_id=client_id,
            oidc_client_secret=client_secret,
            oidc_scopes=scopes,
            session_idle=timedelta(
                minutes=_int(env_vars, "PMSC_SESSION_IDLE_MINUTES", 30, minimum=1)
            ),
            session_lifetime=timedelta(
                hours=_int(env_vars, "PMSC_SESSION_MAX_HOURS", 12, minimum=1)
            ),
            session_cookie_secure=cookie_secure,
            db_app_role=app_role,
            dev_login=dev_login,
            max_body_bytes=_int(env_vars, "PMSC_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        )


def _role_map(path: str | None) -> RoleMap:
    if not path:
        return RoleMap()
    try:
        return RoleMap.from_file(path)
    except RoleMapError as error:
        raise ConfigError(f"PMSC_ROLE_MAP: {error}") from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {value!r})")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer (got {raw!r})") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} (got {value})")
    return value


def _database_url(url: str, name: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith(("sqlite://", "postgresql+psycopg://")):
        raise ConfigError(f"{name} must be a sqlite:// or postgresql:// URL")
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{name} is not a valid URL (check its host and port)") from None
    return url


def _well_formed(url: str) -> bool:
    """Whether `url` parses, port included (a bad one would fail later, with a traceback)."""
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return False
    return True


def _without_password(url: str) -> str:
    """`url` with its password, if any, shown as `***` (for reprs and messages)."""
    if url.startswith(("sqlite:", "postgresql")):
        return make_url(url).render_as_string(hide_password=True)
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{separator}{credentials.split(':', 1)[0]}:***@{host}"


def _check_fernet_key(key: str, index: int) -> None:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"PMSC_DATA_KEY: key #{index + 1} is not 32 bytes of URL-safe base64 "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )


def instance_secret(instance: Path, name: str, make) -> str:
    """A development secret kept in `instance/`, so restarts and workers agree on it.

    Written to a private temporary file, then linked into place: the secret is never readable
    by others, and when two processes start at once the second keeps the first one's secret
    instead of overwriting it (a data key lost that way would leave records undecryptable)."""
    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        temporary = instance / f".{name}.{os.getpid()}.{secrets.token_hex(8)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(make() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} is empty: delete it and a new secret is generated")
    return value
