"""Read models (zone level, aggregates only, never personal data) and the zone's settings they
are computed and ranked by."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.activities.models import ActivityKind
from tenants.orm import (
    Base,
    JSONDocument,
    TenantOwned,
    UTCDateTime,
    str_enum,
    tenant_table_args,
    utcnow,
)


class BranchRollup(TenantOwned, Base):
    """One branch's figures for one period: a year (`2026`) or a month (`2026-03`).

    Owned by the branch (its job writes it in the branch's context); the zone reads every
    branch's rows in the zone context, for rankings and medians."""

    __tablename__ = "branch_rollups"
    __table_args__ = tenant_table_args(
        UniqueConstraint("tenant_id", "period"),
        Index("ix_branch_rollups_period", "period"),
    )

    period: Mapped[str] = mapped_column(String(7))
    # the roster when computed: people by category, party members by status
    members_total: Mapped[int] = mapped_column(Integer, default=0)
    party_members: Mapped[int] = mapped_column(Integer, default=0)
    party_full: Mapped[int] = mapped_column(Integer, default=0)
    party_probationary: Mapped[int] = mapped_column(Integer, default=0)
    league_members: Mapped[int] = mapped_column(Integer, default=0)
    workers: Mapped[int] = mapped_column(Integer, default=0)
    others: Mapped[int] = mapped_column(Integer, default=0)
    # activities held in the period, in all and by kind ({kind: count})
    activities_held: Mapped[int] = mapped_column(Integer, default=0)
    activities_by_kind: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    # the zone's schedule of required meetings, against what was held ({kind: [held, due]})
    meetings_due: Mapped[int] = mapped_column(Integer, default=0)
    meetings_held: Mapped[int] = mapped_column(Integer, default=0)
    meetings_detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # attendance records of held activities, and how many were present or late
    attendance_records: Mapped[int] = mapped_column(Integer, default=0)
    attendance_present: Mapped[int] = mapped_column(Integer, default=0)
    # members with a training target, and how many met it (year periods only)
    training_with_target: Mapped[int] = mapped_column(Integer, default=0)
    training_compliant: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Frequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class MeetingRequirement(Base):
    """The zone's schedule: a kind of meeting every branch must hold so often."""

    __tablename__ = "meeting_requirements"
    __audited__ = True
    __table_args__ = (CheckConstraint("times >= 1", name="times_positive"),)

    kind: Mapped[ActivityKind] = mapped_column(
        str_enum(ActivityKind, "required_kind"), primary_key=True
    )
    frequency: Mapped[Frequency] = mapped_column(str_enum(Frequency, "frequency"))
    times: Mapped[int] = mapped_column(Integer, default=1)  # per month, quarter or year

    @property
    def id(self) -> str:  # the audit log names objects by id
        return self.kind.value


class Indicator(enum.StrEnum):
    MEETINGS = "meetings"  # required meetings held against the schedule
    ATTENDANCE = "attendance"  # attendance rate at held activities
    TRAINING = "training"  # members meeting their training-hours target
    ACTIVITY = "activity"  # activities held per party member, against the zone's best


class RankingWeight(Base):
    """How much an indicator counts in the zone's ranking of branches."""

    __tablename__ = "ranking_weights"
    __audited__ = True
    __table_args__ = (CheckConstraint("weight >= 0", name="weight_not_negative"),)

    indicator: Mapped[Indicator] = mapped_column(
        str_enum(Indicator, "ranking_indicator"), primary_key=True
    )
    weight: Mapped[Decimal] = mapped_column(Numeric(6, 3))

    @property
    def id(self) -> str:
        return self.indicator.value


DEFAULT_REQUIREMENTS = {
    ActivityKind.COMMITTEE_MEETING: (Frequency.MONTHLY, 1),
    ActivityKind.GENERAL_MEETING: (Frequency.QUARTERLY, 1),
    ActivityKind.PARTY_LECTURE: (Frequency.QUARTERLY, 1),
}
DEFAULT_WEIGHTS = {indicator: Decimal(1) for indicator in Indicator}
