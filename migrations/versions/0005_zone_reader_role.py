"""zone reads as a role of its own: every tenant-owned table's `zone_reads` policy applies to
`<app role>_zone` only, and the branch policy reads its setting once per statement.

Before, `zone_reads` applied to everyone when `pmsc.scope` was 'zone', so every branch query
carried "tenant matches OR scope is zone", evaluated per row (see `tenants.rls`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 05:30:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from tenants import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the policies as 0001-0004 first wrote them, for the downgrade
LEGACY_TENANT = "NULLIF(current_setting('pmsc.tenant_id', true), '')::uuid"


def _tables() -> list[str]:
    rows = op.get_bind().execute(
        text(
            "SELECT tablename FROM pg_policies WHERE schemaname = current_schema() "
            "AND policyname = 'tenant_rows' ORDER BY tablename"
        )
    )
    return list(rows.scalars())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    reader = rls.zone_role(rls.migration_app_role(op))
    op.execute(rls.ensure_zone_role_statement(reader))
    for table in _tables():
        op.execute(f"DROP POLICY zone_reads ON {table}")
        op.execute(f"DROP POLICY tenant_rows ON {table}")
        for statement in rls.enable_statements(table, reader)[2:]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        op.execute(f"DROP POLICY zone_reads ON {table}")
        op.execute(f"DROP POLICY tenant_rows ON {table}")
        op.execute(
            f"CREATE POLICY tenant_rows ON {table} USING (tenant_id = {LEGACY_TENANT}) "
            f"WITH CHECK (tenant_id = {LEGACY_TENANT})"
        )
        op.execute(
            f"CREATE POLICY zone_reads ON {table} FOR SELECT "
            "USING (current_setting('pmsc.scope', true) = 'zone')"
        )
