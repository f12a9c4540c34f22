"""Fixtures: a real database per backend (SQLite always, PostgreSQL when
`PMSC_TEST_DATABASE_URL` is set), migrated once per session; a real OpenID issuer on loopback;
the app built against both; factories for branches, members and tokens.

Tests isolate from each other by creating their own branches (unique slugs), never by mocks.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import create_app
from service.config import Settings
from tests.makers import account_maker, branch_maker
from tests.oidc_issuer import TestIssuer

DATA_KEY = Fernet.generate_key().decode()
SECRET_KEY = "test-secret-key-" + "x" * 32
PG_URL = os.environ.get("PMSC_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PMSC_TEST_REDIS_URL")
APP_ROLE = "pmsc_test_app"

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL, reason="PMSC_TEST_DATABASE_URL is not set (CI sets it)"
        ),
    ),
]


def pg_url(database: str, user: str | None = None) -> str:
    url = make_url(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        if PG_URL.startswith("postgresql://")
        else PG_URL
    )
    url = url.set(database=database)
    if user:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


def create_pg_database() -> str:
    name = f"pmsc_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(
        pg_url(make_url(PG_URL).database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name


def drop_pg_database(name: str) -> None:
    engine = create_engine(
        pg_url(make_url(PG_URL).database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def environment(backend: str, tmp: Path, **extra: str) -> tuple[dict[str, str], str | None]:
    """A `PMSC_*` environment for a fresh, empty database of `backend`; and the PG db name."""
    env = {
        "PMSC_ENV": "testing",
        "PMSC_INSTANCE_PATH": str(tmp / "instance"),
        "PMSC_SECRET_KEY": SECRET_KEY,
        "PMSC_DATA_KEY": DATA_KEY,
        "PMSC_DB_APP_ROLE": APP_ROLE,
    }
    name = None
    if backend == "sqlite":
        env["PMSC_DATABASE_URL"] = f"sqlite:///{tmp / 'pmsc.sqlite3'}"
    else:
        name = create_pg_database()
        env["PMSC_DATABASE_URL"] = pg_url(name, APP_ROLE)
        env["PMSC_ADMIN_DATABASE_URL"] = pg_url(name)
    env.update(extra)
    return env, name


@pytest.fixture(scope="session")
def issuer() -> Iterator[TestIssuer]:
    server = TestIssuer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


# a database per test module and backend: zone-wide work (a recompute over every branch) then
# costs what a module's own branches cost, not what the whole suite has piled up
@pytest.fixture(scope="module")
def app_env(backend: str, issuer: TestIssuer, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment of the module's app, with its own database migrated to head."""
    from service import schema_migrations

    env, name = environment(
        backend,
        tmp_path_factory.mktemp(backend),
        PMSC_OIDC_ISSUER=issuer.url,
        PMSC_OIDC_AUDIENCE=issuer.audience,
    )
    (Path(env["PMSC_INSTANCE_PATH"])).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    yield env
    if name:
        drop_pg_database(name)


@pytest.fixture(scope="module")
def app(app_env: dict[str, str]):
    application = create_app(app_env)
    yield application
    from service.database import db

    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    """A session of its own in an app context (bind a context before touching tenant data)."""
    from service.database import db

    with app.app_context():
        session = db.new_session()
        yield session
        session.rollback()
        session.close()


@pytest.fixture
def make_branch(app):
    """Register a branch with a unique slug (fields as keywords); returns the Tenant."""
    return branch_maker(app)


class Caller:
    """An HTTP client that sends a bearer token for a set of groups."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str):
        def call(path: str, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        return call


@pytest.fixture
def as_groups(client, issuer):
    """`as_groups("pmsc:zone:admin")` → a Caller with a real token for those groups."""

    def make(*groups: str, **claims) -> Caller:
        return Caller(client, issuer.token(list(groups), **claims))

    return make


@pytest.fixture
def zone_admin(as_groups) -> Caller:
    return as_groups("pmsc:zone:admin")


@pytest.fixture
def zone_viewer(as_groups) -> Caller:
    return as_groups("pmsc:zone:viewer")


def branch_admin_of(as_groups, tenant) -> Caller:
    return as_groups(f"pmsc:branch:{tenant.slug}:admin")


def branch_member_of(as_groups, tenant) -> Caller:
    return as_groups(f"pmsc:branch:{tenant.slug}:member")


VALID_MEMBER = {
    "name": "张伟",
    "gender": "male",
    "birth_date": "1985-03-12",
    "category": "party-member",
    "party_status": "full",
    "joined_party_date": "2008-07-01",
    "full_membership_date": "2009-07-01",
    "phone": "13812345678",
    "id_card_number": "320505198503121235",
    "education": "bachelor",
    "ethnicity": "汉族",
    "position": "组织委员",
}


@pytest.fixture
def make_account(app):
    """An account as a browser sign-in leaves it, with a fresh subject and username unless
    given; returns the detached `User`."""
    return account_maker(app)


# --- the whole run's logs, and the robustness suites' figures ------------------------------------


def pytest_configure(config) -> None:
    """Capture every log record of the run, and spy on where secrets are made."""
    from tests import log_secrets

    log_secrets.install()


def pytest_sessionfinish(session, exitstatus) -> None:
    """No secret of the run in its logs: otherwise the run fails (exit status 1)."""
    from tests import log_secrets

    log_secrets.remember(SECRET_KEY, DATA_KEY)
    found = log_secrets.leaks(log_secrets.CAPTURE.lines, log_secrets.SECRETS)
    session.config.stash[LOG_LEAKS] = found
    if found and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


LOG_LEAKS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from tests import log_secrets
    from tests.robustness.stats import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("robustness")
        for line in lines:
            terminalreporter.write_line(line)
        factory = getattr(config, "_tmp_path_factory", None)  # pytest's tmp_path_factory
        if factory is not None:
            path = factory.getbasetemp() / "robustness-summary.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            terminalreporter.write_line(f"(also in {path})")
    found = config.stash.get(LOG_LEAKS, [])
    terminalreporter.section("secrets in logs")
    terminalreporter.write_line(
        f"{len(log_secrets.CAPTURE.lines)} log records scanned for "
        f"{len(log_secrets.SECRETS)} known secrets, JWTs and API tokens: {len(found)} found"
    )
    for line in found[:50]:
        terminalreporter.write_line(f"SECRET IN LOG: {line}", red=True)
