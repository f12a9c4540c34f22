"""The real `pmsc` console script, run in subprocesses with a controlled environment.

Migrations, the register of branches and its status changes, the demo zone, key rotation of
personal data, unreachable databases (one line, no traceback, no password) and `pmsc serve` in
development. Setup that is not under test (migrating a scratch database, seeding a branch to
rotate) is done in-process to keep the number of slow subprocesses down.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import create_engine, text

from service import create_app, schema_migrations
from service.config import Settings
from service.database import db
from service.demo import DemoBranch, seed_branch
from tenants.registry import EnterpriseType, OrganizationType
from tests.conftest import DATA_KEY, PG_URL, drop_pg_database, environment

PMSC = Path(sys.executable).with_name("pmsc")
HEAD = schema_migrations.head_revision()


def pmsc(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the console script with exactly `env` (plus PATH), in a scratch working folder."""
    return subprocess.run(
        [str(PMSC), *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUTF8": "1", **env},
        cwd=Path(env["PMSC_INSTANCE_PATH"]).parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pmsc_together(*calls: tuple[dict[str, str], list[str]]) -> list[subprocess.CompletedProcess]:
    """Independent commands at once (each is mostly start-up time); results in call order."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: pmsc(call[0], *call[1]), calls))


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """A failure reported as one line on stderr, no traceback; returns the line."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def statuses(env: dict[str, str]) -> dict[str, str]:
    """`pmsc tenants list` as {slug: status}."""
    lines = ok(pmsc(env, "tenants", "list")).splitlines()
    assert lines[-1].endswith("branch(es)")
    return {line.split()[0]: line.split()[1] for line in lines[:-1]}


def create_args(slug: str, **overrides: str) -> list[str]:
    options = {
        "--slug": slug,
        "--name": "云创软件党支部",
        "--enterprise-name": "云创软件科技有限公司",
        "--enterprise-type": "private",
        "--industry": "软件和信息技术服务",
        "--employees": "180",
        **overrides,
    }
    return ["tenants", "create", *[part for pair in options.items() for part in pair]]


def migrated(env: dict[str, str]) -> dict[str, str]:
    """Migrate `env`'s database in-process (setup, not under test)."""
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    return env


def seeded(env: dict[str, str], slug: str, members: int = 0) -> None:
    """Register a branch with `members` members in-process (setup, not under test)."""
    app = create_app(env)
    with app.app_context():
        session = db.new_session()
        branch = DemoBranch(
            slug,
            "测试党支部",
            "测试科技有限公司",
            EnterpriseType.PRIVATE,
            "食品加工",
            30,
            OrganizationType.BRANCH,
            party_members=members // 2,
            league_members=members - members // 2,
            workers=0,
        )
        seed_branch(session, branch)
        session.commit()
        session.close()
        db.engine.dispose()


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    env, _ = environment("sqlite", tmp_path)
    return env


# --- migrations -------------------------------------------------------------------------------


def test_db_upgrade_brings_an_empty_database_to_head_and_current_says_so(sqlite_env):
    assert HEAD
    assert f"database at {HEAD}" in ok(pmsc(sqlite_env, "db", "upgrade"))
    current = ok(pmsc(sqlite_env, "db", "current"))
    assert f"current: {HEAD}" in current
    assert f"head: {HEAD}" in current
    assert "run `pmsc db upgrade`" not in current


def test_commands_on_an_unmigrated_database_say_to_run_db_upgrade(sqlite_env):
    line = one_line_error(pmsc(sqlite_env, "tenants", "list"))
    assert "run `pmsc db upgrade`" in line
    assert f"needs {HEAD}" in line


# --- the register of branches -----------------------------------------------------------------


def test_branches_are_created_listed_and_change_status_through_the_command_line(sqlite_env):
    env = migrated(sqlite_env)
    seeded(env, "lvyuan-food")
    assert "created yunchuang-software" in ok(pmsc(env, *create_args("yunchuang-software")))

    duplicate = pmsc(env, *create_args("yunchuang-software", **{"--name": "另一个支部"}))
    assert "'yunchuang-software' already exists" in one_line_error(duplicate)

    ok(pmsc(env, "tenants", "suspend", "yunchuang-software"))
    ok(pmsc(env, "tenants", "archive", "lvyuan-food"))
    assert statuses(env) == {"lvyuan-food": "archived", "yunchuang-software": "suspended"}

    ok(pmsc(env, "tenants", "activate", "yunchuang-software"))
    assert statuses(env) == {"lvyuan-food": "archived", "yunchuang-software": "active"}


# --- the demo zone ----------------------------------------------------------------------------


DEMO_FIGURES = text(
    "SELECT t.slug, t.industry, t.employee_count, t.organization_type,"
    " (SELECT count(*) FROM members m WHERE m.tenant_id = t.id) AS members"
    " FROM tenants t ORDER BY t.slug"
)


def test_demo_seeds_varied_branches_with_members_once(sqlite_env):
    env = migrated(sqlite_env)
    first = ok(pmsc(env, "demo", "--if-empty"))
    engine = create_engine(env["PMSC_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(DEMO_FIGURES).all()
        assert len(rows) >= 6
        assert f"added {len(rows)} branch(es)" in first
        assert all(row.members > 0 for row in rows)
        assert len({row.industry for row in rows}) == len(rows)
        assert len({row.employee_count for row in rows}) == len(rows)
        assert max(r.employee_count for r in rows) >= 10 * min(r.employee_count for r in rows)
        assert len({row.members for row in rows}) >= 4
        assert len({row.organization_type for row in rows}) >= 2

        second = ok(pmsc(env, "demo", "--if-empty"))
        assert "not seeded" in second
        with engine.connect() as connection:
            assert connection.execute(DEMO_FIGURES).all() == rows
    finally:
        engine.dispose()


# --- unreachable databases --------------------------------------------------------------------


def test_unreachable_database_is_one_line_naming_it_without_the_password(sqlite_env):
    tmp = Path(sqlite_env["PMSC_INSTANCE_PATH"]).parent
    closed_port = "postgresql://x:db-secret@127.0.0.1:1/db"
    missing_folder = f"sqlite:///{tmp}/no-such-folder/pmsc.sqlite3"
    postgresql, sqlite = pmsc_together(
        ({**sqlite_env, "PMSC_DATABASE_URL": closed_port}, ["db", "upgrade"]),
        ({**sqlite_env, "PMSC_DATABASE_URL": missing_folder}, ["db", "upgrade"]),
    )
    assert "postgresql+psycopg://x:***@127.0.0.1:1/db" in one_line_error(postgresql)
    assert "db-secret" not in postgresql.stderr + postgresql.stdout
    assert f"{tmp}/no-such-folder" in one_line_error(sqlite)


# --- key rotation of personal data ------------------------------------------------------------


def test_keys_rotate_re_encrypts_members_with_the_new_first_key(tmp_path, issuer):
    env, _ = environment(
        "sqlite", tmp_path, PMSC_OIDC_ISSUER=issuer.url, PMSC_OIDC_AUDIENCE=issuer.audience
    )
    migrated(env)
    seeded(env, "rotate-keys", members=4)  # PMSC_DATA_KEY holds only the old key

    engine = create_engine(env["PMSC_DATABASE_URL"])
    read = text("SELECT id, phone, id_card_number, version FROM members ORDER BY id")
    audit = text("SELECT count(*) FROM tenant_audit_events")
    try:
        with engine.connect() as connection:
            before = connection.execute(read).all()
            events_before = connection.execute(audit).scalar()
        assert len(before) == 4
        old = Fernet(DATA_KEY.encode())
        clear = {
            row.id: (old.decrypt(row.phone.encode()), old.decrypt(row.id_card_number.encode()))
            for row in before
        }

        new_key = Fernet.generate_key().decode()
        rotated = ok(pmsc({**env, "PMSC_DATA_KEY": f"{new_key},{DATA_KEY}"}, "keys", "rotate"))
        assert "re-encrypted 4 member record(s) in 1 branch(es)" in rotated

        with engine.connect() as connection:
            after = connection.execute(read).all()
            # the values did not change: no audit event, and no new version (ETag)
            assert connection.execute(audit).scalar() == events_before
        new = Fernet(new_key.encode())
        for was, now in zip(before, after, strict=True):
            assert now.version == was.version
            assert now.phone != was.phone
            assert now.id_card_number != was.id_card_number
            assert (new.decrypt(now.phone.encode()), new.decrypt(now.id_card_number.encode())) == (
                clear[now.id]
            )
            with pytest.raises(InvalidToken):
                old.decrypt(now.phone.encode())
    finally:
        engine.dispose()

    # the old key can now be dropped: pmsc and the app work with the new key alone
    only_new = {**env, "PMSC_DATA_KEY": new_key}
    assert "re-encrypted 4 member record(s)" in ok(pmsc(only_new, "keys", "rotate"))
    new_app = create_app(only_new)
    try:
        listed = new_app.test_client().get(
            "/api/v1/t/rotate-keys/members",
            headers={"Authorization": f"Bearer {issuer.token(['pmsc:branch:rotate-keys:admin'])}"},
        )
        assert listed.status_code == 200, listed.json
        shown = {(m["phone"].encode(), m["id_card_number"].encode()) for m in listed.json}
        assert shown == set(clear.values())
    finally:
        with new_app.app_context():
            db.engine.dispose()


# --- serving ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_serve_in_development_answers_healthz_and_the_development_login(tmp_path):
    env = {
        "PMSC_ENV": "development",
        "PMSC_DEV_LOGIN": "1",
        "PMSC_INSTANCE_PATH": str(tmp_path / "instance"),
        "PMSC_DATABASE_URL": f"sqlite:///{tmp_path / 'pmsc.sqlite3'}",
    }
    migrated(env)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(PMSC), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUTF8": "1", **env},
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while get_status(f"{base}/healthz") != 200:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert get_status(f"{base}/dev/login") == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# --- the same flow on PostgreSQL --------------------------------------------------------------


@pytest.mark.skipif(not PG_URL, reason="PMSC_TEST_DATABASE_URL is not set (CI sets it)")
def test_postgresql_database_is_migrated_and_takes_branches(tmp_path):
    env, name = environment("postgresql", tmp_path)
    try:
        assert f"database at {HEAD}" in ok(pmsc(env, "db", "upgrade"))
        assert "created jinhe-chemical" in ok(pmsc(env, *create_args("jinhe-chemical")))
        assert statuses(env) == {"jinhe-chemical": "active"}
    finally:
        drop_pg_database(name)
