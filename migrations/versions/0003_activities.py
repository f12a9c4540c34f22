"""activities: activities and attendance (owned by the branch), training targets and zone
activities (zone level) with the branches' registrations (owned by the branch), and the outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:23:09.873957
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tenants import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = ("activities", "attendance", "zone_registrations")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("coalesce_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["dispatched_at", "created_at"], unique=False)

    op.create_table(
        "training_targets",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "party-member",
                "league-member",
                "worker",
                "other",
                name="target_category",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("hours", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.CheckConstraint("hours >= 0", name=op.f("ck_training_targets_hours_not_negative")),
        sa.PrimaryKeyConstraint("year", "category", name=op.f("pk_training_targets")),
    )
    op.create_table(
        "zone_activities",
        sa.Column("id", sa.Uuid(), nullable=False),
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
                name="activity_kind",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "consultation_topic",
            sa.Enum(
                "health",
                "psychology",
                "law",
                name="consultation_topic",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column(
            "festival",
            sa.Enum(
                "may-day",
                "youth-day",
                "national-day",
                "new-year",
                name="festival",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column(
            "training_topic",
            sa.Enum(
                "ideology",
                "party-affairs",
                "industry",
                "law",
                name="training_topic",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("organizer", sa.String(length=100), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "held",
                "cancelled",
                name="activity_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("study_hours", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "ends_at >= starts_at", name=op.f("ck_zone_activities_ends_after_start")
        ),
        sa.CheckConstraint(
            "study_hours >= 0", name=op.f("ck_zone_activities_study_hours_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_activities")),
    )
    with op.batch_alter_table("zone_activities", schema=None) as batch_op:
        batch_op.create_index("ix_zone_activities_starts", ["starts_at"], unique=False)

    op.create_table(
        "activities",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
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
                name="activity_kind",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "consultation_topic",
            sa.Enum(
                "health",
                "psychology",
                "law",
                name="consultation_topic",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column(
            "festival",
            sa.Enum(
                "may-day",
                "youth-day",
                "national-day",
                "new-year",
                name="festival",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column(
            "training_topic",
            sa.Enum(
                "ideology",
                "party-affairs",
                "industry",
                "law",
                name="training_topic",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("organizer", sa.String(length=100), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "held",
                "cancelled",
                name="activity_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("study_hours", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("ends_at >= starts_at", name=op.f("ck_activities_ends_after_start")),
        sa.CheckConstraint("study_hours >= 0", name=op.f("ck_activities_study_hours_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_activities_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_activities")),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activities_tenant_kind_status", ["tenant_id", "kind", "status"], unique=False
        )
        batch_op.create_index(
            "ix_activities_tenant_starts", ["tenant_id", "starts_at"], unique=False
        )

    op.create_table(
        "attendance",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "present",
                "late",
                "excused",
                "absent",
                name="attendance_status",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "activity_id"],
            ["activities.tenant_id", "activities.id"],
            name="fk_attendance_activity",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_attendance_member",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_attendance_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_attendance")),
        sa.UniqueConstraint(
            "tenant_id", "activity_id", "member_id", name=op.f("uq_attendance_tenant_id")
        ),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attendance_tenant_member", ["tenant_id", "member_id"], unique=False
        )

    op.create_table(
        "zone_registrations",
        sa.Column("zone_activity_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column(
            "attendance",
            sa.Enum(
                "present",
                "late",
                "excused",
                "absent",
                name="registration_attendance",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_zone_registrations_member",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_zone_registrations_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["zone_activity_id"],
            ["zone_activities.id"],
            name=op.f("fk_zone_registrations_zone_activity_id_zone_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_zone_registrations")),
        sa.UniqueConstraint(
            "tenant_id",
            "zone_activity_id",
            "member_id",
            name=op.f("uq_zone_registrations_tenant_id"),
        ),
        info={"tenant_owned": True},
    )
    with op.batch_alter_table("zone_registrations", schema=None) as batch_op:
        batch_op.create_index("ix_zone_registrations_activity", ["zone_activity_id"], unique=False)

    for table in TENANT_TABLES:
        rls.enable(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        rls.disable(op, table)
    with op.batch_alter_table("zone_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_zone_registrations_activity")

    op.drop_table("zone_registrations")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_tenant_member")

    op.drop_table("attendance")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_tenant_starts")
        batch_op.drop_index("ix_activities_tenant_kind_status")

    op.drop_table("activities")
    with op.batch_alter_table("zone_activities", schema=None) as batch_op:
        batch_op.drop_index("ix_zone_activities_starts")

    op.drop_table("zone_activities")
    op.drop_table("training_targets")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
