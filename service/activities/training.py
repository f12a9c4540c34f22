"""Training hours: the zone's yearly targets per category, and each member's hours from what they
attended. A year is the calendar year in China Standard Time (UTC+8), where the zone is.

A member's hours in a year = the study hours of the branch's held activities they attended
(present or late) + those of the held zone activities they attended (registration attendance
present or late), by the activity's start. A category's target is the zone's figure for the
year, else the default: 32 hours for party members, none for other categories (no target: no
compliance figure). Members are listed by name, never ranked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activities.models import (
    Activity,
    ActivityStatus,
    Attendance,
    TrainingTarget,
    ZoneActivity,
    ZoneRegistration,
)
from service.activities.service import ATTENDED
from service.errors import Invalid
from service.members.models import Category, Member
from service.messages import msg
from service.rollups.triggers import mark_zone_changed

ZONE_TIME = timezone(timedelta(hours=8), "CST")
DEFAULT_TARGETS: dict[Category, Decimal | None] = {
    Category.PARTY_MEMBER: Decimal(32),
    Category.LEAGUE_MEMBER: None,
    Category.WORKER: None,
    Category.OTHER: None,
}


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The instants a year of the zone's calendar starts and ends (exclusive)."""
    return datetime(year, 1, 1, tzinfo=ZONE_TIME), datetime(year + 1, 1, 1, tzinfo=ZONE_TIME)


def current_year() -> int:
    return datetime.now(ZONE_TIME).year


@dataclass(frozen=True)
class Target:
    category: Category
    hours: Decimal | None
    is_default: bool


def targets(session: Session, *, year: int) -> list[Target]:
    """Each category's target for `year`: the zone's figure, or the default."""
    stored = {
        t.category: t.hours
        for t in session.scalars(select(TrainingTarget).where(TrainingTarget.year == year))
    }
    return [
        Target(c, stored[c], False) if c in stored else Target(c, DEFAULT_TARGETS[c], True)
        for c in Category
    ]


def set_targets(session: Session, *, year: int, items: Sequence[Mapping[str, Any]]) -> list[Target]:
    """Replace the zone's targets for `year`: categories listed with hours get that figure;
    listed with `null`, or not listed, they fall back to the default."""
    seen: set[Category] = set()
    errors: dict[str, dict[str, str]] = {}
    for index, item in enumerate(items):
        if item["category"] in seen:
            errors[str(index)] = {"category": msg("This category appears twice in the list.")}
        seen.add(item["category"])
    if errors:
        raise Invalid(errors)
    wanted = {i["category"]: i["hours"] for i in items if i["hours"] is not None}
    stored = {
        t.category: t
        for t in session.scalars(select(TrainingTarget).where(TrainingTarget.year == year))
    }
    for category, target in stored.items():
        if category not in wanted:
            session.delete(target)
    for category, hours in wanted.items():
        target = stored.get(category)
        if target is None:
            session.add(TrainingTarget(year=year, category=category, hours=hours))
        elif target.hours != hours:
            target.hours = hours
    session.flush()
    mark_zone_changed(session)
    return targets(session, year=year)


@dataclass(frozen=True)
class MemberHours:
    member_id: uuid.UUID
    name: str
    category: Category
    hours: Decimal
    target: Decimal | None
    compliant: bool | None


@dataclass(frozen=True)
class TrainingSummary:
    year: int
    members: list[MemberHours]
    totals: dict[str, Any]


def member_hours(session: Session, *, tenant_id: uuid.UUID, year: int) -> dict[uuid.UUID, Decimal]:
    """Each member's training hours in `year` (members with none are absent)."""
    start, end = year_bounds(year)
    hours: dict[uuid.UUID, Decimal] = {}
    own = session.execute(
        select(Attendance.member_id, Activity.study_hours)
        .join(
            Activity,
            (Activity.tenant_id == Attendance.tenant_id) & (Activity.id == Attendance.activity_id),
        )
        .where(
            Attendance.tenant_id == tenant_id,
            Attendance.status.in_(ATTENDED),
            Activity.status == ActivityStatus.HELD,
            Activity.starts_at >= start,
            Activity.starts_at < end,
        )
    )
    zone = session.execute(
        select(ZoneRegistration.member_id, ZoneActivity.study_hours)
        .join(ZoneActivity, ZoneActivity.id == ZoneRegistration.zone_activity_id)
        .where(
            ZoneRegistration.tenant_id == tenant_id,
            ZoneRegistration.attendance.in_(ATTENDED),
            ZoneActivity.status == ActivityStatus.HELD,
            ZoneActivity.starts_at >= start,
            ZoneActivity.starts_at < end,
        )
    )
    for member_id, study_hours in [*own, *zone]:
        hours[member_id] = hours.get(member_id, Decimal(0)) + Decimal(str(study_hours))
    return hours


def summary(session: Session, *, tenant_id: uuid.UUID, year: int) -> TrainingSummary:
    """Per member (by name) hours, target and compliance in `year`, and the branch's totals."""
    by_category = {t.category: t.hours for t in targets(session, year=year)}
    hours = member_hours(session, tenant_id=tenant_id, year=year)
    rows = []
    for member in session.scalars(
        select(Member).where(Member.tenant_id == tenant_id).order_by(Member.name, Member.id)
    ):
        done = hours.get(member.id, Decimal(0)).quantize(Decimal("0.01"))
        target = by_category[member.category]
        rows.append(
            MemberHours(
                member.id,
                member.name,
                member.category,
                done,
                target,
                None if target is None else done >= target,
            )
        )
    with_target = [r for r in rows if r.target is not None]
    compliant = sum(1 for r in with_target if r.compliant)
    totals = {
        "members": len(rows),
        "members_with_target": len(with_target),
        "compliant": compliant,
        "compliance_rate": round(compliant / len(with_target), 4) if with_target else None,
    }
    return TrainingSummary(year, rows, totals)
