"""PostgreSQL row-level security for tenant-owned tables: the DDL migrations run.

Policies compare `tenant_id` with the transaction-local setting `pmsc.tenant_id` (set by
`tenants.isolation` at the start of every transaction). Unset, the setting is empty and no row
matches: the policy fails closed. The zone scope may read every row (rollups), never write.
"""

from __future__ import annotations

CURRENT_TENANT = "NULLIF(current_setting('pmsc.tenant_id', true), '')::uuid"


def enable_statements(table: str) -> list[str]:
    """The statements that put `table` under tenant row-level security."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_rows ON {table} USING (tenant_id = {CURRENT_TENANT}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT})",
        f"CREATE POLICY zone_reads ON {table} FOR SELECT "
        "USING (current_setting('pmsc.scope', true) = 'zone')",
    ]


def disable_statements(table: str) -> list[str]:
    """The statements that undo `enable_statements`."""
    return [
        f"DROP POLICY IF EXISTS zone_reads ON {table}",
        f"DROP POLICY IF EXISTS tenant_rows ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def enable(op, table: str) -> None:
    """In a migration: enable row-level security on `table` (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in enable_statements(table):
            op.execute(statement)


def disable(op, table: str) -> None:
    """In a migration: undo `enable` (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in disable_statements(table):
            op.execute(statement)
