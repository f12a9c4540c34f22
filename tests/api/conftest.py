"""Fixtures of the API tests: the outbox, read as the database's owner."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text


@pytest.fixture(scope="module")
def admin_engine(app_env) -> Iterator:
    """The database as its owner (past row-level security), to count outbox rows."""
    engine = create_engine(app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"])
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(admin_engine) -> Callable[[object], list[tuple]]:
    """`outbox(tenant)`: the outbox messages recorded for the tenant, as (job, queue, key)."""

    def rows(tenant) -> list[tuple]:
        with admin_engine.connect() as connection:
            return [
                tuple(r)
                for r in connection.execute(
                    text("SELECT job, queue, coalesce_key FROM outbox WHERE tenant_id = :t"),
                    {"t": tenant.id.hex if admin_engine.dialect.name == "sqlite" else tenant.id},
                )
            ]

    return rows
