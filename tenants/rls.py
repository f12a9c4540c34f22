"""PostgreSQL row-level security for tenant-owned tables: the DDL migrations run.

Policies compare `tenant_id` with the transaction-local setting `pmsc.tenant_id` (set by
`tenants.isolation` at the start of every transaction). Unset, the setting is empty and no row
matches: the policy fails closed. The zone scope may read every row (rollups), never write.

The zone reads as a role of its own, `<app role>_zone` (NOLOGIN, no inheritance: the app role
becomes it only by `SET LOCAL ROLE` in a zone-context transaction), not by a setting: a policy
that ORs "or the scope is zone" into every branch query makes PostgreSQL evaluate both per row
and misjudge every row count, while a policy bound to another role does not apply to the app
role at all, so a branch query carries one comparison, evaluated once (issue 5, B4).
"""

from __future__ import annotations

import os

# a scalar subquery: PostgreSQL evaluates it once per statement, not once per row
CURRENT_TENANT = "(SELECT NULLIF(current_setting('pmsc.tenant_id', true), '')::uuid)"
DEFAULT_APP_ROLE = "pmsc_app"


def zone_role(app_role: str) -> str:
    """The role the zone context reads as, for the service's app role `app_role`."""
    return f"{app_role}_zone"


def ensure_zone_role_statement(role: str) -> str:
    """Create the zone role if missing (concurrent migrations of other databases may race)."""
    return (
        f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN NOINHERIT; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )


def enable_statements(table: str, reader: str) -> list[str]:
    """The statements that put `table` under tenant row-level security; `reader` is the zone
    role, the only one that reads every branch's rows."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_rows ON {table} USING (tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT})",
        f"CREATE POLICY zone_reads ON {table} FOR SELECT TO {reader} USING (true)",
    ]


def disable_statements(table: str) -> list[str]:
    """The statements that undo `enable_statements`."""
    return [
        f"DROP POLICY IF EXISTS zone_reads ON {table}",
        f"DROP POLICY IF EXISTS tenant_rows ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def migration_app_role(op) -> str:
    """The app role of the database being migrated (`pmsc db upgrade` passes the setting)."""
    environment = op.get_context().environment_context
    attributes = environment.config.attributes if environment is not None else {}
    return attributes.get("app_role") or os.environ.get("PMSC_DB_APP_ROLE") or DEFAULT_APP_ROLE


def enable(op, table: str) -> None:
    """In a migration: enable row-level security on `table` (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        reader = zone_role(migration_app_role(op))
        op.execute(ensure_zone_role_statement(reader))
        for statement in enable_statements(table, reader):
            op.execute(statement)


def disable(op, table: str) -> None:
    """In a migration: undo `enable` (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_statements(table):
            op.execute(statement)
