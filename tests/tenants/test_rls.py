"""Layer 3 of tenant isolation: PostgreSQL row-level security, on its own.

Raw SQL on the app's own database URL, so neither the ORM hooks (layer 1) nor the keys (layer 2)
are what refuses: the role (`pmsc_test_app`: no superuser, no BYPASSRLS, owns nothing) and the
policies, which compare `tenant_id` with the transaction-local `pmsc.tenant_id`. Tenant-owned
tables are found in the catalog (a primary key with `tenant_id`), never listed by hand, and every
one of them gets rows of branches A and B made generically from its columns (types, enums,
foreign keys), so a table added later is probed without new test code. SQLite has no row-level
security: every test here is skipped on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Enum,
    Integer,
    Numeric,
    String,
    Table,
    TypeDecorator,
    Uuid,
    create_engine,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service.database import db
from service.models import metadata
from tenants.context import Context
from tenants.database_roles import role_problems
from tenants.isolation import bind_context
from tenants.orm import tenant_owned_tables
from tenants.rls import zone_role
from tests.conftest import APP_ROLE
from tests.robustness.stats import STATS

RLS_REFUSED = "42501"  # insufficient_privilege: "new row violates row-level security policy"
OWNED = [t.name for t in tenant_owned_tables(metadata)]
# tables with a tenant column that are not tenant-owned (no tenant in their key, no policies)
NOT_TENANT_OWNED = {
    "outbox": "the jobs' queue: the relay moves every branch's jobs in the system context; "
    "a row names a job, its branch and plain ids, no record of the branch",
}
CATALOG_OWNED = (
    "SELECT c.relname FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
    "JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p' "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (k.conkey) "
    "WHERE a.attname = 'tenant_id'"
)


@pytest.fixture(scope="module")
def app_engine(request, backend) -> Iterator[Engine]:
    """An engine on the app's database URL (the app role), PostgreSQL only."""
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's; SQLite has layers 1 and 2 only")
    env = request.getfixturevalue("app_env")
    engine = create_engine(env["PMSC_DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def conn(app_engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back at the end."""
    with app_engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        if transaction.is_active:
            transaction.rollback()


ZONE_ROLE = zone_role(APP_ROLE)


def use(
    connection: Connection, tenant_id: uuid.UUID | None = None, scope: str = "", role: str = ""
) -> None:
    """Set the transaction-local settings the policies read, and the zone role in the zone
    scope, as the service does (`role` overrides the role: "none" stays the app role)."""
    scope = scope or ("tenant" if tenant_id else "")
    connection.execute(
        text(
            "SELECT set_config('pmsc.tenant_id', :t, true), set_config('pmsc.scope', :s, true), "
            "set_config('role', :r, true)"
        ),
        {
            "t": str(tenant_id) if tenant_id else "",
            "s": scope,
            "r": role or (ZONE_ROLE if scope == "zone" else "none"),
        },
    )


# --- rows made from the columns ---------------------------------------------------------------


def value_for(table: Table, column, serial: int) -> Any:
    """A valid value for `column`, from its type alone (a check constraint between two
    timestamps holds: every timestamp is the same)."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    if isinstance(kind, Enum):
        return kind.enums[0]
    if isinstance(kind, Uuid):
        return uuid.uuid4()
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, Numeric):
        return Decimal(1)
    if isinstance(kind, DateTime):
        return datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    if isinstance(kind, Date):
        return date(2000, 1, 1)
    if isinstance(kind, JSON):
        return {"probe": serial}
    if isinstance(kind, String):  # and Text
        value = f"r{serial}-{uuid.uuid4().hex}"
        return value[: kind.length] if kind.length else value
    raise AssertionError(f"{table.name}.{column.name}: no generic value for {column.type!r}")


def make_row(table: Table, made: dict[str, dict], tenant_id: uuid.UUID | None, serial: int) -> dict:
    """A row for `table`: foreign keys point at the rows already `made` (of the same branch
    for tenant-owned tables), every other column a value of its type."""
    row = {}
    for constraint in table.foreign_key_constraints:
        referred = constraint.referred_table.name
        for element in constraint.elements:
            if element.parent.name == "tenant_id":
                continue
            assert referred in made, f"{table.name} refers to {referred}, which has no row"
            row[element.parent.name] = made[referred][element.column.name]
    for column in table.columns:
        if column.name == "tenant_id":
            row["tenant_id"] = tenant_id
        elif column.name not in row:
            row[column.name] = value_for(table, column, serial)
    return row


def seed(app, app_engine: Engine, admin_engine: Engine, tenant_id: uuid.UUID, owned: list[str]):
    """A row of `tenant_id` in every tenant-owned table (and the zone-level rows they refer
    to), inserted in the branch's context by the app role itself: the policies let a branch
    write its own rows."""
    tables = [t for t in metadata.sorted_tables if t.name in owned or _referred_by(t, owned)]
    made: dict[str, dict] = {}
    with app.app_context():  # encrypted columns need the app's cipher
        for serial, table in enumerate(tables):
            if table.name == "tenants":
                made["tenants"] = {"id": tenant_id}
                continue
            is_owned = table.name in owned
            row = make_row(table, made, tenant_id if is_owned else None, serial)
            engine = app_engine if is_owned else admin_engine
            with engine.connect() as connection, connection.begin():
                if is_owned:
                    use(connection, tenant_id)
                connection.execute(insert(table), row)
            made[table.name] = row
    return made


def _referred_by(table: Table, owned: list[str]) -> bool:
    """A zone-level table a tenant-owned one refers to (a zone activity, an account)."""
    return any(
        fk.referred_table is table
        for t in metadata.sorted_tables
        if t.name in owned
        for fk in t.foreign_key_constraints
    )


@pytest.fixture(scope="module")
def owned(app_engine) -> list[str]:
    """The tenant-owned tables, as the catalog says (a primary key with `tenant_id`)."""
    with app_engine.connect() as connection:
        found = set(connection.scalars(text(CATALOG_OWNED)))
    order = {t.name: i for i, t in enumerate(metadata.sorted_tables)}  # parents first
    return sorted(found, key=lambda name: (order.get(name, len(order)), name))


@pytest.fixture(scope="module")
def admin_engine(app_engine, app_env) -> Iterator[Engine]:
    engine = create_engine(app_env["PMSC_ADMIN_DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def branches(app_engine, admin_engine, app, make_branch, owned) -> tuple[uuid.UUID, uuid.UUID]:
    """Branches A and B, each with a row in every tenant-owned table, committed."""
    a, b = make_branch().id, make_branch().id
    seed(app, app_engine, admin_engine, a, owned)
    seed(app, app_engine, admin_engine, b, owned)
    return a, b


@pytest.fixture
def seeded(branches, app_engine, owned) -> list[str]:
    """Every tenant-owned table, each holding rows of A and B (checked here)."""
    with app_engine.connect() as connection, connection.begin():
        for tenant in branches:
            use(connection, tenant)
            empty = [t for t in owned if not connection.scalar(text(f"SELECT count(*) FROM {t}"))]
            assert not empty, f"no rows of {tenant} in {empty}"
    STATS["rls tables probed"] = max(STATS["rls tables probed"], len(owned))
    return owned


def count(connection: Connection, table: str, tenant_id: uuid.UUID | None = None) -> int:
    where = f" WHERE tenant_id = '{tenant_id}'" if tenant_id else ""
    return connection.scalar(text(f"SELECT count(*) FROM {table}{where}"))


def tenants_seen(connection: Connection, table: str) -> set[uuid.UUID]:
    return set(connection.scalars(text(f"SELECT DISTINCT tenant_id FROM {table}")))


def refused(connection: Connection, sql: str, params: dict | None = None) -> str | None:
    """Run `sql` in a savepoint; the SQLSTATE it failed with, or None if it went through."""
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(sql), params or {})
    except DBAPIError as error:
        savepoint.rollback()
        return getattr(error.orig, "sqlstate", "?")
    savepoint.rollback()
    return None


def assert_changes_nothing_of(connection: Connection, tables: list[str], tenant_id) -> None:
    """An UPDATE and a DELETE of `tenant_id`'s rows in every table touch no row."""
    for table in tables:
        updated = connection.execute(
            text(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = :t"), {"t": tenant_id}
        )
        assert updated.rowcount == 0, table
    for table in reversed(tables):
        deleted = connection.execute(
            text(f"DELETE FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}
        )
        assert deleted.rowcount == 0, table


def copy_one_row(connection: Connection, table: str, source: uuid.UUID) -> None:
    """`model_row`: a temporary copy of one of `source`'s rows of `table`, with a new id."""
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE model_row ON COMMIT DROP AS "
        f"SELECT * FROM {table} WHERE tenant_id = '{source}' LIMIT 1"
    )
    connection.exec_driver_sql("UPDATE model_row SET id = gen_random_uuid()")
    assert connection.scalar(text("SELECT count(*) FROM model_row")) == 1


# the catalog


def test_catalog_tenant_tables_are_the_models_tenant_owned_tables(conn, owned):
    assert set(owned) == set(OWNED)
    assert len(owned) >= 9


def test_every_table_with_a_tenant_column_is_tenant_owned_or_exempt_with_a_reason(conn, owned):
    with_tenant_column = set(
        conn.scalars(
            text(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        )
    )
    unexplained = with_tenant_column - set(owned) - set(NOT_TENANT_OWNED)
    assert not unexplained, f"tables with a tenant_id but no row-level security: {unexplained}"
    assert set(NOT_TENANT_OWNED) <= with_tenant_column - set(owned)


def test_every_tenant_owned_table_has_enabled_and_forced_row_level_security(conn, owned):
    flags = {
        row.relname: (row.relrowsecurity, row.relforcerowsecurity)
        for row in conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relname = ANY (:names)"
            ),
            {"names": owned},
        )
    }
    assert flags == dict.fromkeys(owned, (True, True))


def test_every_tenant_owned_table_has_the_same_two_policies(conn, owned):
    rows = conn.execute(
        text(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check "
            "FROM pg_policies WHERE schemaname = 'public'"
        )
    ).all()
    policies = {(r.tablename, r.policyname): r for r in rows}
    assert set(policies) == {(t, p) for t in owned for p in ("tenant_rows", "zone_reads")}
    for table in owned:
        tenant_rows = policies[table, "tenant_rows"]
        zone_reads = policies[table, "zone_reads"]
        assert tenant_rows.cmd == "ALL"
        assert "pmsc.tenant_id" in tenant_rows.qual
        assert "pmsc.tenant_id" in tenant_rows.with_check
        assert zone_reads.cmd == "SELECT"
        # the zone reads as its own role; nobody else's query carries "or the zone" per row
        assert zone_reads.roles == [ZONE_ROLE]
        assert zone_reads.qual == "true"
        # the same definitions everywhere: no table has a weaker copy
        reference = policies[owned[0], "tenant_rows"]
        assert (tenant_rows.qual, tenant_rows.with_check) == (
            reference.qual,
            reference.with_check,
        )
        assert zone_reads.qual == policies[owned[0], "zone_reads"].qual


# no setting


def test_without_a_tenant_setting_no_row_is_visible(conn, branches, seeded):
    for table in seeded:
        assert count(conn, table) == 0, table


def test_without_a_tenant_setting_no_row_can_be_updated_or_deleted(conn, branches, seeded):
    a, b = branches
    use(conn)
    for table in seeded:
        sql = f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id IN (:a, :b)"
        assert conn.execute(text(sql), {"a": a, "b": b}).rowcount == 0, table
    for table in reversed(seeded):
        sql = f"DELETE FROM {table} WHERE tenant_id IN (:a, :b)"
        assert conn.execute(text(sql), {"a": a, "b": b}).rowcount == 0, table


def test_without_a_tenant_setting_an_insert_is_refused(conn, branches, seeded):
    a, _ = branches
    for table in seeded:
        use(conn, a)
        copy_one_row(conn, table, a)
        use(conn)
        assert refused(conn, f"INSERT INTO {table} SELECT * FROM model_row") == RLS_REFUSED
        conn.exec_driver_sql("DROP TABLE model_row")


# branch A's setting


def test_branch_a_setting_shows_only_branch_a_rows(conn, branches, seeded):
    a, b = branches
    use(conn, a)
    for table in seeded:
        assert tenants_seen(conn, table) == {a}, table
        assert count(conn, table, b) == 0, table


def test_branch_a_setting_refuses_inserting_a_branch_b_row(conn, branches, seeded):
    a, b = branches
    use(conn, a)
    for table in seeded:
        copy_one_row(conn, table, a)
        conn.execute(text("UPDATE model_row SET tenant_id = :b"), {"b": b})
        assert refused(conn, f"INSERT INTO {table} SELECT * FROM model_row") == RLS_REFUSED
        conn.exec_driver_sql("DROP TABLE model_row")


def test_branch_a_setting_accepts_inserting_its_own_member(conn, branches):
    a, _ = branches
    use(conn, a)
    copy_one_row(conn, "members", a)
    before = count(conn, "members")
    assert refused(conn, "INSERT INTO members SELECT * FROM model_row") is None
    conn.exec_driver_sql("INSERT INTO members SELECT * FROM model_row")
    assert count(conn, "members") == before + 1


def test_branch_a_setting_refuses_moving_a_row_to_branch_b(conn, branches, seeded):
    a, b = branches
    use(conn, a)
    for table in seeded:
        sql = f"UPDATE {table} SET tenant_id = :b WHERE tenant_id = :a"
        assert refused(conn, sql, {"a": a, "b": b}) == RLS_REFUSED, table


def test_branch_a_setting_cannot_update_or_delete_branch_b_rows(conn, app_engine, branches, seeded):
    a, b = branches
    use(conn, a)
    assert_changes_nothing_of(conn, seeded, b)
    conn.commit()
    with app_engine.connect() as other, other.begin():
        use(other, b)
        assert all(count(other, table) > 0 for table in seeded)


# the setting is per transaction


def test_tenant_setting_ends_with_its_transaction(app_engine, branches, seeded):
    a, _ = branches
    with app_engine.connect() as connection:
        with connection.begin():
            use(connection, a)
            assert count(connection, "members") > 0
        with connection.begin():
            setting = connection.scalar(text("SELECT current_setting('pmsc.tenant_id', true)"))
            assert setting in ("", None)
            for table in seeded:
                assert count(connection, table) == 0, table


def test_tenant_session_sets_the_setting_for_its_transaction_only(app, branches):
    a, _ = branches
    with app.app_context():
        session = db.new_session()
        try:
            bind_context(session, Context.tenant(a))
            current = "SELECT current_setting('pmsc.tenant_id', true)"
            assert session.connection().scalar(text(current)) == str(a)
            session.commit()
            bind_context(session, Context.zone())
            assert session.connection().scalar(text(current)) == ""
            assert (
                session.connection().scalar(text("SELECT current_setting('pmsc.scope', true)"))
                == "zone"
            )
            assert session.connection().scalar(text("SELECT current_user")) == ZONE_ROLE
            session.commit()
            bind_context(session, Context.tenant(a))
            # the zone role ends with its transaction: the next one is the app role again
            assert session.connection().scalar(text("SELECT current_user")) == APP_ROLE
        finally:
            session.close()


# the zone scope


def test_zone_scope_reads_every_branch_but_writes_nothing(conn, app_engine, branches, seeded):
    a, b = branches
    use(conn, scope="zone")
    for table in seeded:
        assert {a, b} <= tenants_seen(conn, table), table
        copy_one_row(conn, table, a)
        assert refused(conn, f"INSERT INTO {table} SELECT * FROM model_row") == RLS_REFUSED
        conn.exec_driver_sql("DROP TABLE model_row")
        updated = conn.execute(
            text(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id IN (:a, :b)"),
            {"a": a, "b": b},
        )
        assert updated.rowcount == 0, table
    for table in reversed(seeded):
        deleted = conn.execute(
            text(f"DELETE FROM {table} WHERE tenant_id IN (:a, :b)"), {"a": a, "b": b}
        )
        assert deleted.rowcount == 0, table


def test_zone_scope_setting_without_the_zone_role_reads_no_branch(conn, branches, seeded):
    """The setting alone opens nothing: only the zone role's policy reads across branches."""
    use(conn, scope="zone", role="none")
    assert conn.scalar(text("SELECT current_user")) == APP_ROLE
    for table in seeded:
        assert tenants_seen(conn, table) == set(), table


def test_zone_role_cannot_write_another_branch_even_with_a_branch_setting(conn, branches, seeded):
    """The zone role's own policy is for SELECT only: with branch A's setting it may read B's
    rows but neither insert, update nor delete them."""
    a, b = branches
    use(conn, a, scope="tenant", role=ZONE_ROLE)
    for table in seeded:
        assert b in tenants_seen(conn, table), table
        copy_one_row(conn, table, b)
        assert refused(conn, f"INSERT INTO {table} SELECT * FROM model_row") == RLS_REFUSED
        conn.exec_driver_sql("DROP TABLE model_row")
    assert_changes_nothing_of(conn, seeded, b)


# the roles


def test_app_role_can_become_the_zone_role_but_does_not_inherit_it(conn):
    row = conn.execute(
        text(
            "SELECT pg_has_role(current_user, :z, 'MEMBER') AS member, "
            "pg_has_role(current_user, :z, 'USAGE') AS inherits, "
            "(SELECT rolcanlogin FROM pg_roles WHERE rolname = :z) AS can_log_in"
        ),
        {"z": ZONE_ROLE},
    ).one()
    assert (row.member, row.inherits, row.can_log_in) == (True, False, False)


@contextmanager
def login_role_member_of(app_env, role: str) -> Iterator:
    """A connection as a fresh login role, neither superuser nor BYPASSRLS, that is a member
    of `role` (inheriting it, PostgreSQL's default); the role is dropped afterwards."""
    admin_url = make_url(app_env["PMSC_ADMIN_DATABASE_URL"])
    probe = f"pmsc_probe_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {probe} LOGIN INHERIT NOSUPERUSER NOBYPASSRLS")
        connection.exec_driver_sql(f'GRANT "{role}" TO {probe}')
    engine = create_engine(admin_url.set(username=probe, password=None))
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE {probe}")
        admin.dispose()


def test_role_that_inherits_the_zone_role_has_role_problems(app_engine, app_env):
    """Inherited, the zone role's policy would apply to every query of the role: each branch
    could read every other branch."""
    with login_role_member_of(app_env, ZONE_ROLE) as connection:
        problems = role_problems(connection)
    assert any(f"inherits {ZONE_ROLE}" in p for p in problems)


def test_app_role_has_no_role_problems(conn):
    assert conn.scalar(text("SELECT current_user")) == "pmsc_test_app"
    assert role_problems(conn) == []


def test_superuser_has_role_problems(app_engine, app_env):
    engine = create_engine(app_env["PMSC_ADMIN_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            problems = role_problems(connection)
    finally:
        engine.dispose()
    assert any("superuser" in p for p in problems)


def test_role_that_can_become_the_owner_has_role_problems(app_engine, app_env):
    """No superuser attribute of its own, but a member of the tables' (superuser) owner: it could
    SET ROLE and switch row-level security off."""
    admin = create_engine(app_env["PMSC_ADMIN_DATABASE_URL"])
    with admin.connect() as connection:
        owner = connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'members'")
        )
    admin.dispose()
    with login_role_member_of(app_env, owner) as connection:
        attributes = connection.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        problems = role_problems(connection)
    assert tuple(attributes) == (False, False)
    assert any(f"member of {owner}" in p for p in problems)
    assert any("owns" in p for p in problems)


def test_app_role_owns_no_table(conn, owned):
    mine = conn.scalar(
        text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = current_user)"
        )
    )
    assert mine == 0
    owners = dict(
        conn.execute(
            text("SELECT tablename, tableowner FROM pg_tables WHERE tablename = ANY (:names)"),
            {"names": owned},
        ).all()
    )
    assert set(owners) == set(owned)
    assert "pmsc_test_app" not in owners.values()
