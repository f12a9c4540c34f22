"""rollups: the per-branch read model (owned by the branch, read by the zone in the zone
context), the zone's meeting schedule and ranking weights.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 00:39:55.035278
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TENANT_TABLES = ("branch_rollups",)


def upgrade() -> None:
    op.create_table(
        "meeting_requirements",
        sa.Column(
            "kind",
            sa.Enum(
                "general-meeting",
                "committee-meeting",
                "group-meeting",
                "party-lecture",
                "theme-day",
                "training",
                "expert-lecture",
                "consultation",
                "cultural-sports",
                "volunteer-service",
                "annual-employee-meeting",
                name="required_kind",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "frequency",
            sa.Enum(
                "monthly",
                "quarterly",
                "yearly",
                name="frequency",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.CheckConstraint("times >= 1", name=op.f("ck_meeting_requirements_times_positive")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_meeting_requirements")),
    )
    op.create_table(
        "ranking_weights",
        sa.Column(
            "indicator",
            sa.Enum(
                "meetings",
                "attendance",
                "training",
                "activity",
                name="ranking_indicator",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("weight", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_ranking_weights_weight_not_negative")),
        sa.PrimaryKeyConstraint("indicator", name=op.f("pk_ranking_weights")),
    )
    op.create_table(
        "branch_rollups",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("members_total", sa.Integer(), nullable=False),
        sa.Column("party_members", sa.Integer(), nullable=False),
        sa.Column("party_full", sa.Integer(), nullable=False),
        sa.Column("party_probationary", sa.Integer(), nullable=False),
        sa.Column("league_members", sa.Integer(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("others", sa.Integer(), nullable=False),
        sa.Column("activities_held", sa.Integer(), nullable=False),
        sa.Column(
            "activities_by_kind",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("meetings_due", sa.Integer(), nullable=False),
        sa.Column("meetings_held", sa.Integer(), nullable=False),
        sa.Column(
            "meetings_detail",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("attendance_records", sa.Integer(), nullable=False),
        sa.Column("attendance_present", sa.Integer(), nullable=False),
        sa.Column("training_with_target", sa.Integer(), nullable=False),
        sa.Column("training_compliant", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_branch_rollups_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_branch_rollups")),
        sa.UniqueConstraint("tenant_id", "period", name=op.f("uq_branch_rollups_tenant_id")),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("branch_rollups", schema=None) as batch_op:
        batch_op.create_index("ix_branch_rollups_period", ["period"], unique=False)

    for table in TENANT_TABLES:
        rls.enable(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        rls.disable(op, table)
    with op.batch_alter_table("branch_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_branch_rollups_period")

    op.drop_table("branch_rollups")
    op.drop_table("ranking_weights")
    op.drop_table("meeting_requirements")
