"""Migrations: the only way the schema changes, so they must agree with the models.

Each test that migrates gets a fresh, empty database of its backend (SQLite and PostgreSQL): up to
head, the models and the migrated schema compared by Alembic's autogenerate (types included), down
to base and up again. Creating a tenant is one registry row: it must run no DDL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Integer, MetaData, TypeDecorator, event, inspect, text

from service import schema_migrations
from service.config import Settings
from service.database import db, make_engine
from service.models import metadata
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.orm import tenant_owned_tables
from tests.conftest import BACKENDS, drop_pg_database, environment

DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|GRANT|REVOKE|TRUNCATE|COMMENT)\b", re.IGNORECASE)


@pytest.fixture(params=BACKENDS)
def fresh(request, tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    """Settings for a fresh, empty database, and an owner (admin) engine on it."""
    env, name = environment(request.param, tmp_path)
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
    settings = Settings.from_env(env)
    engine = make_engine(settings.admin_database_url)
    try:
        yield settings, engine
    finally:
        engine.dispose()
        if name:
            drop_pg_database(name)


def differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def application_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def policies(engine: Engine) -> int:
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        return connection.scalar(
            text("SELECT count(*) FROM pg_policies WHERE schemaname = 'public'")
        )


def test_migrations_agree_with_the_models_and_downgrade_to_nothing(fresh):
    settings, engine = fresh
    assert application_tables(engine) == set()

    schema_migrations.upgrade(settings)
    assert schema_migrations.current_revision(settings.admin_database_url) == (
        schema_migrations.head_revision()
    )
    assert application_tables(engine) == set(metadata.tables)
    assert differences(engine) == []
    on_postgresql = engine.dialect.name == "postgresql"
    assert policies(engine) == (2 * len(tenant_owned_tables(metadata)) if on_postgresql else 0)

    schema_migrations.downgrade(settings, "base")
    assert schema_migrations.current_revision(settings.admin_database_url) is None
    assert application_tables(engine) == set()
    assert policies(engine) == 0

    schema_migrations.upgrade(settings)
    assert application_tables(engine) == set(metadata.tables)
    assert differences(engine) == []


class WholeNumber(TypeDecorator):
    impl = Integer
    cache_ok = True


def test_comparison_sees_a_missing_table_and_a_wrong_column_type(fresh):
    """The agreement check is not vacuous: a table missing from the database is reported, and
    columns of a custom type (`UTCDateTime`, `EncryptedText`) are compared by their `impl`."""
    settings, engine = fresh
    schema_migrations.upgrade(settings)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE zone_audit_events"))
    models = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(models)
    models.tables["members"].c.phone.type = WholeNumber()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, models)
    flat = [d for group in found for d in (group if isinstance(group, list) else [group])]
    assert [d[1].name for d in flat if d[0] == "add_table"] == ["zone_audit_events"]
    assert [(d[2], d[3]) for d in flat if d[0] == "modify_type"] == [("members", "phone")]


def test_creating_a_tenant_runs_no_ddl(app):
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
        session = db.new_session()
        event.listen(engine, "before_cursor_execute", record)
        try:
            bind_context(session, Context.system())
            provisioning.create_tenant(
                session,
                slug=f"ddl-{uuid.uuid4().hex[:10]}",
                name="新党支部",
                enterprise_name="新公司",
                enterprise_type="private",
                industry="制造",
                employee_count=10,
                organization_type="branch",
            )
            session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", record)
            session.close()
    assert any(s.lstrip().upper().startswith("INSERT INTO TENANTS") for s in statements)
    assert [s for s in statements if DDL.match(s)] == []
