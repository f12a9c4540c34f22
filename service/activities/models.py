"""Activities and attendance (tenant-owned); training targets and zone activities (zone level),
with each branch's registrations to them (tenant-owned)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from service.members.models import Category
from tenants.orm import (
    Base,
    TenantOwned,
    UTCDateTime,
    str_enum,
    tenant_table_args,
    utcnow,
    uuid7,
)


class ActivityKind(enum.StrEnum):
    GENERAL_MEETING = "general-meeting"  # 党员大会
    COMMITTEE_MEETING = "committee-meeting"  # 支委会
    GROUP_MEETING = "group-meeting"  # 党小组会
    PARTY_LECTURE = "party-lecture"  # 党课
    THEME_DAY = "theme-day"  # 主题党日
    TRAINING = "training"  # 培训
    EXPERT_LECTURE = "expert-lecture"  # 专家讲座
    CONSULTATION = "consultation"  # 健康、心理、法律咨询
    CULTURAL_SPORTS = "cultural-sports"  # 文体活动
    VOLUNTEER_SERVICE = "volunteer-service"  # 志愿服务
    ANNUAL_EMPLOYEE_MEETING = "annual-employee-meeting"  # 党员职工年会


class ConsultationTopic(enum.StrEnum):
    HEALTH = "health"
    PSYCHOLOGY = "psychology"
    LAW = "law"


class Festival(enum.StrEnum):
    MAY_DAY = "may-day"  # 五一
    YOUTH_DAY = "youth-day"  # 五四
    NATIONAL_DAY = "national-day"  # 国庆
    NEW_YEAR = "new-year"  # 元旦


class TrainingTopic(enum.StrEnum):
    IDEOLOGY = "ideology"  # 思想理论
    PARTY_AFFAIRS = "party-affairs"  # 党务知识
    INDUSTRY = "industry"  # 产业发展
    LAW = "law"  # 法律法规


class ActivityStatus(enum.StrEnum):
    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    EXCUSED = "excused"
    ABSENT = "absent"


class _ActivityColumns:
    kind: Mapped[ActivityKind] = mapped_column(str_enum(ActivityKind, "activity_kind"))
    title: Mapped[str] = mapped_column(String(200))
    consultation_topic: Mapped[ConsultationTopic | None] = mapped_column(
        str_enum(ConsultationTopic, "consultation_topic")
    )
    festival: Mapped[Festival | None] = mapped_column(str_enum(Festival, "festival"))
    training_topic: Mapped[TrainingTopic | None] = mapped_column(
        str_enum(TrainingTopic, "training_topic")
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(200))
    organizer: Mapped[str | None] = mapped_column(String(100))
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ActivityStatus] = mapped_column(
        str_enum(ActivityStatus, "activity_status"), default=ActivityStatus.PLANNED
    )
    summary: Mapped[str | None] = mapped_column(Text)  # minutes of a meeting, or a summary
    study_hours: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class Activity(TenantOwned, _ActivityColumns, Base):
    """A meeting, lecture, training session or other activity a branch holds."""

    __tablename__ = "activities"
    __audited__ = True
    __table_args__ = tenant_table_args(
        CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        CheckConstraint("study_hours >= 0", name="study_hours_not_negative"),
        Index("ix_activities_tenant_starts", "tenant_id", "starts_at"),
        Index("ix_activities_tenant_kind_status", "tenant_id", "kind", "status"),
    )


class Attendance(TenantOwned, Base):
    """One member at one of the branch's activities."""

    __tablename__ = "attendance"
    __audited__ = True
    __table_args__ = tenant_table_args(
        ForeignKeyConstraint(
            ["tenant_id", "activity_id"],
            ["activities.tenant_id", "activities.id"],
            name="fk_attendance_activity",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_attendance_member",
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "activity_id", "member_id"),
        Index("ix_attendance_tenant_member", "tenant_id", "member_id"),
    )

    activity_id: Mapped[uuid.UUID] = mapped_column()
    member_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[AttendanceStatus] = mapped_column(
        str_enum(AttendanceStatus, "attendance_status")
    )
    reason: Mapped[str | None] = mapped_column(String(200))  # why excused
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TrainingTarget(Base):
    """The zone's yearly training-hours target for one category of people."""

    __tablename__ = "training_targets"
    __audited__ = True
    __table_args__ = (CheckConstraint("hours >= 0", name="hours_not_negative"),)

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[Category] = mapped_column(
        str_enum(Category, "target_category"), primary_key=True
    )
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))

    @property
    def id(self) -> str:  # the audit log names objects by id
        return f"{self.year}:{self.category.value}"


class ZoneActivity(_ActivityColumns, Base):
    """An activity the working committee organises, open to members of every branch."""

    __tablename__ = "zone_activities"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        CheckConstraint("study_hours >= 0", name="study_hours_not_negative"),
        Index("ix_zone_activities_starts", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)


class ZoneRegistration(TenantOwned, Base):
    """A member of a branch registered for a zone activity (the branch's own record of it)."""

    __tablename__ = "zone_registrations"
    __audited__ = True
    __table_args__ = tenant_table_args(
        ForeignKeyConstraint(
            ["tenant_id", "member_id"],
            ["members.tenant_id", "members.id"],
            name="fk_zone_registrations_member",
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "zone_activity_id", "member_id"),
        Index("ix_zone_registrations_activity", "zone_activity_id"),
    )

    zone_activity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("zone_activities.id", ondelete="CASCADE")
    )
    member_id: Mapped[uuid.UUID] = mapped_column()
    attendance: Mapped[AttendanceStatus | None] = mapped_column(
        str_enum(AttendanceStatus, "registration_attendance")
    )
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
