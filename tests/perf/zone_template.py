"""A loaded synthetic zone kept as a PostgreSQL template database, so the benchmarks that need
the same zone (B1 and B2 both use `large`) load it once per machine: the next one gets a file
copy (`CREATE DATABASE ... TEMPLATE`) in seconds instead of minutes of INSERTs.

A template is named after what makes its content: the zone size, the seed, the schema's head
revision and the generator's source, so a changed generator or schema never serves stale rows.
`PMSC_BENCH_NO_TEMPLATE=1` loads every time."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import schema_migrations, zone_generator

GENERATOR = Path(zone_generator.__file__)


def template_name(size: str, seed: int) -> str:
    """The template database holding zone `size` of `seed` for this code."""
    digest = hashlib.sha256(
        f"{size}:{seed}:{schema_migrations.head_revision()}:".encode() + GENERATOR.read_bytes()
    ).hexdigest()
    return f"pmsc_bench_{size}_{digest[:12]}"


def _server(owner_url: str):
    # the maintenance database of the same server: CREATE/DROP DATABASE run from there
    return create_engine(make_url(owner_url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _exists(connection, name: str) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    return found.scalar() is not None


def enabled() -> bool:
    """Templates are used unless `PMSC_BENCH_NO_TEMPLATE` is set."""
    return not os.environ.get("PMSC_BENCH_NO_TEMPLATE")


def restore(owner_url: str, size: str, seed: int) -> float | None:
    """Replace the database of `owner_url` with a copy of the template, if there is one; the
    seconds the copy took, or None (no template: load the zone, then `keep`)."""
    if not enabled():
        return None
    template = template_name(size, seed)
    database = make_url(owner_url).database
    server = _server(owner_url)
    try:
        with server.connect() as connection:
            if not _exists(connection, template):
                return None
            started = time.perf_counter()
            connection.exec_driver_sql(f'DROP DATABASE "{database}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
            return time.perf_counter() - started
    finally:
        server.dispose()


def keep(owner_url: str, size: str, seed: int) -> None:
    """Keep the loaded database of `owner_url` as the template of zone `size` of `seed`."""
    if not enabled():
        return
    template = template_name(size, seed)
    database = make_url(owner_url).database
    server = _server(owner_url)
    try:
        with server.connect() as connection:
            if _exists(connection, template):
                return
            # a template is copied only while nobody is connected to it
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            )
            connection.exec_driver_sql(f'CREATE DATABASE "{template}" TEMPLATE "{database}"')
    finally:
        server.dispose()
