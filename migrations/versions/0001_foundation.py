"""foundation: the tenant registry, members, party groups and the audit log.

Tenant-owned tables get composite keys and, on PostgreSQL, row-level security.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 23:22:50.982850
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ("party_groups", "members", "tenant_audit_events")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column(
            "enterprise_type",
            sa.Enum(
                "private",
                "foreign-funded",
                "joint-venture",
                "other",
                name="enterprise_type",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("industry", sa.String(length=80), nullable=False),
        sa.Column("employee_count", sa.Integer(), nullable=False),
        sa.Column(
            "organization_type",
            sa.Enum(
                "branch",
                "general-branch",
                "committee",
                name="organization_type",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                "archived",
                name="tenant_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "employee_count >= 0", name=op.f("ck_tenants_employee_count_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenants_status"), ["status"], unique=False)

    op.create_table(
        "zone_audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_issuer", sa.String(length=255), nullable=True),
        sa.Column("actor_subject", sa.String(length=255), nullable=False),
        sa.Column("actor_name", sa.String(length=120), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("object_type", sa.String(length=60), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column(
            "changes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_audit_events")),
    )
    with op.batch_alter_table("zone_audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_zone_audit_events_time", ["occurred_at"], unique=False)

    op.create_table(
        "party_groups",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_party_groups_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_party_groups")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_party_groups_tenant_id")),
        info={"tenant_owned": True},
    )
    op.create_table(
        "tenant_audit_events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_issuer", sa.String(length=255), nullable=True),
        sa.Column("actor_subject", sa.String(length=255), nullable=False),
        sa.Column("actor_name", sa.String(length=120), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("object_type", sa.String(length=60), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column(
            "changes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_audit_events_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_audit_events")),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("tenant_audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tenant_audit_events_tenant_time", ["tenant_id", "occurred_at"], unique=False
        )

    op.create_table(
        "members",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "gender",
            sa.Enum(
                "male",
                "female",
                name="gender",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("ethnicity", sa.String(length=20), nullable=True),
        sa.Column(
            "education",
            sa.Enum(
                "primary-or-below",
                "junior-high",
                "senior-high",
                "vocational-secondary",
                "junior-college",
                "bachelor",
                "master",
                "doctorate",
                name="education",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("id_card_number", sa.Text(), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "party-member",
                "league-member",
                "worker",
                "other",
                name="member_category",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "party_status",
            sa.Enum(
                "probationary",
                "full",
                name="party_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("joined_party_date", sa.Date(), nullable=True),
        sa.Column("full_membership_date", sa.Date(), nullable=True),
        sa.Column("position", sa.String(length=60), nullable=True),
        sa.Column("party_group_id", sa.Uuid(), nullable=True),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "party_group_id"],
            ["party_groups.tenant_id", "party_groups.id"],
            name="fk_members_party_group",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_members_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_members")),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_members_tenant_category", ["tenant_id", "category", "party_status"], unique=False
        )
        batch_op.create_index("ix_members_tenant_name", ["tenant_id", "name"], unique=False)

    for table in TENANT_TABLES:
        rls.enable(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        rls.disable(op, table)
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_tenant_name")
        batch_op.drop_index("ix_members_tenant_category")

    op.drop_table("members")
    with op.batch_alter_table("tenant_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tenant_audit_events_tenant_time")

    op.drop_table("tenant_audit_events")
    op.drop_table("party_groups")
    with op.batch_alter_table("zone_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_zone_audit_events_time")

    op.drop_table("zone_audit_events")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenants_status"))

    op.drop_table("tenants")
