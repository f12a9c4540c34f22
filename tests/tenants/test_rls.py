"""Layer 3 of tenant isolation: PostgreSQL row-level security, on its own.

Raw SQL on the app's own database URL, so neither the ORM hooks (layer 1) nor the keys (layer 2)
are what refuses: the role (`pmsc_test_app`: no superuser, no BYPASSRLS, owns nothing) and the
policies, which compare `tenant_id` with the transaction-local `pmsc.tenant_id`. Tenant-owned
tables are found in the catalog (a primary key with `tenant_id`) and in the models, never listed by
hand. SQLite has no row-level security: every test here is skipped on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service.database import db
from service.members.models import Category, Gender
from service.members.service import create_member, save_party_group
from service.models import metadata
from tenants.context import Context
from tenants.database_roles import role_problems
from tenants.isolation import bind_context
from tenants.orm import tenant_owned_tables

RLS_REFUSED = "42501"  # insufficient_privilege: "new row violates row-level security policy"
OWNED = [t.name for t in tenant_owned_tables(metadata)]


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


def use(connection: Connection, tenant_id: uuid.UUID | None = None, scope: str = "") -> None:
    """Set the transaction-local settings the policies read, as the service does."""
    connection.execute(
        text("SELECT set_config('pmsc.tenant_id', :t, true), set_config('pmsc.scope', :s, true)"),
        {"t": str(tenant_id) if tenant_id else "", "s": scope or ("tenant" if tenant_id else "")},
    )


def seed(tenant_id: uuid.UUID) -> None:
    """A party group and a member of `tenant_id` (and, by the audit hook, their events)."""
    session = db.new_session()
    try:
        bind_context(session, Context.tenant(tenant_id))
        group = save_party_group(session, tenant_id=tenant_id, group=None, fields={"name": "一组"})
        fields = {"name": "李娜", "gender": Gender.FEMALE, "category": Category.WORKER}
        create_member(session, tenant_id=tenant_id, fields={**fields, "party_group_id": group.id})
        session.commit()
    finally:
        session.close()


@pytest.fixture
def branches(app_engine, app, make_branch) -> tuple[uuid.UUID, uuid.UUID]:
    """Branches A and B, each with rows in the tenant-owned tables, committed."""
    a, b = make_branch().id, make_branch().id
    with app.app_context():
        seed(a)
        seed(b)
    return a, b


@pytest.fixture
def seeded(branches, app_engine) -> list[str]:
    """The tenant-owned tables in which branch A has rows (the ones behaviour is checked on)."""
    with app_engine.connect() as connection, connection.begin():
        use(connection, branches[0])
        tables = [t for t in OWNED if connection.scalar(text(f"SELECT count(*) FROM {t}"))]
    assert {"members", "party_groups", "tenant_audit_events"} <= set(tables)
    return tables


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


def copy_one_row(connection: Connection, table: str, source: uuid.UUID) -> None:
    """`model_row`: a temporary copy of one of `source`'s rows of `table`, with a new id."""
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE model_row ON COMMIT DROP AS "
        f"SELECT * FROM {table} WHERE tenant_id = '{source}' LIMIT 1"
    )
    connection.exec_driver_sql("UPDATE model_row SET id = gen_random_uuid()")
    assert connection.scalar(text("SELECT count(*) FROM model_row")) == 1


# the catalog


def test_catalog_tenant_tables_are_the_models_tenant_owned_tables(conn):
    in_catalog = set(
        conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p' "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (k.conkey) "
                "WHERE a.attname = 'tenant_id'"
            )
        )
    )
    assert in_catalog == set(OWNED)


def test_every_tenant_owned_table_has_enabled_and_forced_row_level_security(conn):
    flags = {
        row.relname: (row.relrowsecurity, row.relforcerowsecurity)
        for row in conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relname = ANY (:names)"
            ),
            {"names": OWNED},
        )
    }
    assert flags == dict.fromkeys(OWNED, (True, True))


def test_every_tenant_owned_table_has_the_same_two_policies(conn):
    rows = conn.execute(
        text(
            "SELECT tablename, policyname, permissive, cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public'"
        )
    ).all()
    policies = {(r.tablename, r.policyname): r for r in rows}
    assert set(policies) == {(t, p) for t in OWNED for p in ("tenant_rows", "zone_reads")}
    for table in OWNED:
        tenant_rows = policies[table, "tenant_rows"]
        zone_reads = policies[table, "zone_reads"]
        assert tenant_rows.cmd == "ALL"
        assert "pmsc.tenant_id" in tenant_rows.qual
        assert "pmsc.tenant_id" in tenant_rows.with_check
        assert zone_reads.cmd == "SELECT"
        assert "pmsc.scope" in zone_reads.qual
        # the same definitions everywhere: no table has a weaker copy
        reference = policies[OWNED[0], "tenant_rows"]
        assert (tenant_rows.qual, tenant_rows.with_check) == (
            reference.qual,
            reference.with_check,
        )
        assert zone_reads.qual == policies[OWNED[0], "zone_reads"].qual


# no setting


def test_without_a_tenant_setting_no_row_is_visible(conn, branches, seeded):
    for table in seeded:
        assert count(conn, table) == 0, table


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
    for table in seeded:
        updated = conn.execute(
            text(f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = :b"), {"b": b}
        )
        assert updated.rowcount == 0, table
    for table in reversed(seeded):
        deleted = conn.execute(text(f"DELETE FROM {table} WHERE tenant_id = :b"), {"b": b})
        assert deleted.rowcount == 0, table
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
            assert session.scalar(text(current)) == str(a)
            session.commit()
            bind_context(session, Context.zone())
            assert session.scalar(text(current)) == ""
            assert session.scalar(text("SELECT current_setting('pmsc.scope', true)")) == "zone"
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


# the roles


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
    admin_url = make_url(app_env["PMSC_ADMIN_DATABASE_URL"])
    probe = f"pmsc_probe_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        owner = connection.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'members'")
        )
        connection.exec_driver_sql(f"CREATE ROLE {probe} LOGIN NOSUPERUSER NOBYPASSRLS")
        connection.exec_driver_sql(f'GRANT "{owner}" TO {probe}')
    engine = create_engine(admin_url.set(username=probe, password=None))
    try:
        with engine.connect() as connection:
            attributes = connection.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
            problems = role_problems(connection)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE {probe}")
        admin.dispose()
    assert tuple(attributes) == (False, False)
    assert any(f"member of {owner}" in p for p in problems)
    assert any("owns" in p for p in problems)


def test_app_role_owns_no_table(conn):
    owned = conn.scalar(
        text(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = current_user)"
        )
    )
    assert owned == 0
    owners = dict(
        conn.execute(
            text("SELECT tablename, tableowner FROM pg_tables WHERE tablename = ANY (:names)"),
            {"names": OWNED},
        ).all()
    )
    assert set(owners) == set(OWNED)
    assert "pmsc_test_app" not in owners.values()
