"""The database as its owner sees it (past row-level security): fingerprints of every table to
prove a request wrote nothing, the audit events, and every stored value as text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from sqlalchemy import Engine, create_engine, func, inspect, select, text

from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.models import metadata
from tenants.orm import Base

AUDIT_TABLES = frozenset({TenantAuditEvent.__tablename__, ZoneAuditEvent.__tablename__})


def audited_tables() -> frozenset[str]:
    """The tables of the models the audit recorder follows (`__audited__`)."""
    return frozenset(
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__audited__", False)
    )


class OwnerDatabase:
    """The module's database, read as the owner of its tables."""

    def __init__(self, app_env: Mapping[str, str]) -> None:
        url = app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"]
        self.engine: Engine = create_engine(url)
        with self.engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
        # the catalog's tables, the migrations' bookkeeping aside
        self.tables = sorted(names - {"alembic_version"})

        # SQLite: a connection of our own, whose `data_version` moves whenever another
        # connection commits a change (cheaper than reading every table)
        self._watch = self.engine.connect() if self.engine.dialect.name == "sqlite" else None

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self.engine.dispose()

    def state(self) -> object:
        """A token that changes whenever any data changes (compare two with `==`)."""
        if self._watch is not None:
            return self._watch.exec_driver_sql("PRAGMA data_version").scalar()
        return self.fingerprint()

    def changed_tables(self, before: object, after: object) -> list[str]:
        """What changed between two `state()`s: the tables, or ['(some table)'] on SQLite."""
        if before == after:
            return []
        if isinstance(before, dict) and isinstance(after, dict):
            return sorted(t for t in after if after[t] != before.get(t))
        return ["(a table: SQLite's data_version moved)"]

    def fingerprint(self) -> dict[str, str]:
        """Per table, a value that changes with any committed write to it. PostgreSQL: the
        row count and the newest row version's transaction id (an insert or update makes a
        row version, a delete lowers the count), in one round trip; SQLite: a hash of the
        rows, read in process."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                query = " UNION ALL ".join(
                    f"SELECT '{t}', count(*)::text || ':' || "
                    f"coalesce(max(xmin::text::bigint), 0)::text FROM {t}"
                    for t in self.tables
                )
                return dict(connection.exec_driver_sql(query).all())
            prints = {}
            for table in self.tables:
                rows = connection.exec_driver_sql(f"SELECT * FROM {table}").all()
                prints[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
            return prints

    def audit_counts(self) -> dict[str, int]:
        """How many events each audit table holds."""
        with self.engine.connect() as connection:
            return {
                t: connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                for t in sorted(AUDIT_TABLES)
            }

    def newest_audit_events(self, before: Mapping[str, int]) -> list[tuple[str, str, str]]:
        """The events added since `audit_counts()` gave `before` (ids are time-ordered):
        (tenant id or 'zone', object id, the event as text)."""
        events = []
        with self.engine.connect() as connection:
            for model in (TenantAuditEvent, ZoneAuditEvent):
                table = metadata.tables[model.__tablename__]
                total = connection.execute(select(func.count()).select_from(table)).scalar()
                added = total - before.get(table.name, 0)
                if added <= 0:
                    continue
                rows = connection.execute(
                    select(table)
                    .order_by(table.c.occurred_at.desc(), table.c.id.desc())
                    .limit(added)
                )
                for row in rows:
                    owner = str(row.tenant_id) if "tenant_id" in row._mapping else "zone"
                    described = json.dumps(
                        {"object_id": row.object_id, "changes": row.changes}, ensure_ascii=False
                    )
                    events.append((owner, row.object_id, described))
        return events

    def every_value(self) -> list[tuple[str, str, str]]:
        """(table, column, value as text) for every non-null value of every table."""
        found = []
        with self.engine.connect() as connection:
            for table in self.tables:
                result = connection.execute(text(f"SELECT * FROM {table}"))
                columns = list(result.keys())
                for row in result:
                    for column, value in zip(columns, row, strict=True):
                        if value is None:
                            continue
                        shown = value if isinstance(value, str) else json.dumps(value, default=str)
                        found.append((table, column, shown))
        return found
