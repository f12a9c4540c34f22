"""The branch rollup: one branch's figures per period, computed from its own records.

Plain functions (no Flask): the session comes in bound to the branch's tenant context, nothing
commits. `recompute_branch` replaces the branch's rows of the current and the previous year (each
year and its 12 months, 26 rows) with fresh figures: the same records give the same rows (only
`computed_at` differs). Rows of older periods are kept as last computed.

Periods are in the zone's calendar, China Standard Time (UTC+8): `2026` is 2026-01-01T00:00+08:00
up to 2027-01-01T00:00+08:00 (exclusive), `2026-03` the month likewise; an activity belongs to
the period its `starts_at` falls in.

The figures of a period:

* roster (`members_total`, `party_members`, `party_full`, `party_probationary`,
  `league_members`, `workers`, `others`): the roster as it stands when computed, the same in
  every period (the roster keeps no history). `party_full`/`party_probationary` count party
  members by `party_status`. Adding or removing a member, or changing a member's category or
  party status, has the branch recomputed (`service.members.service.COUNTED`).
* `activities_held`, `activities_by_kind`: the branch's activities with status `held` starting
  in the period, in all and `{kind: count}` (kinds with none are left out); planned and cancelled
  ones never count.
* required meetings, against the zone's schedule (`MeetingRequirement` rows, or
  `DEFAULT_REQUIREMENTS` while the table is empty). A requirement (kind, frequency, times) splits
  the year into sub-periods: 12 months, 4 quarters, or the year itself. A sub-period is *due*
  once it has begun (it has ended or is current at the time of computing); one not yet begun
  is not due, so a past year is fully due and the current year is due up to now. Per due
  sub-period, due = `times` and held = min(held activities of that kind starting in it, times)
  (holding more than required in one sub-period does not make up for another).
  - a year: the sum over its due sub-periods;
  - a month: a monthly requirement counts in its month; a quarterly one in the quarter's last
    month (March, June, September, December) with the whole quarter's meetings; a yearly one in
    December with the whole year's — each only once that month has begun. (So during a quarter's
    first two months the year row already counts the quarter as due, the month rows not yet.)
  `meetings_due`/`meetings_held` are the sums over the requirements; `meetings_detail` is
  `{kind: {"held": n, "due": m}}` for every required kind (also those with nothing due).
* `attendance_records`, `attendance_present`: attendance records of the branch's held activities
  starting in the period, and those of them present or late (zone activities are not counted).
* `training_with_target`, `training_compliant` (year rows only; month rows carry 0): members
  whose category has a training-hours target that year (the zone's figure, else the default: 32
  hours for party members), and those whose hours (`service.activities.training.member_hours`:
  held branch and zone activities attended present or late) reach it — the same figures as the
  branch's training summary.

Cost: a handful of queries per branch whatever its size (group-by counts; one row per held
activity, one per member with hours), never a query per member.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.activities.models import Activity, ActivityKind, ActivityStatus, Attendance
from service.activities.service import ATTENDED
from service.activities.training import ZONE_TIME, member_hours, targets
from service.members.models import Category, Member, PartyStatus
from service.rollups.models import (
    DEFAULT_REQUIREMENTS,
    BranchRollup,
    Frequency,
    MeetingRequirement,
)
from tenants.orm import utcnow

FIGURES = (
    "members_total",
    "party_members",
    "party_full",
    "party_probationary",
    "league_members",
    "workers",
    "others",
    "activities_held",
    "activities_by_kind",
    "meetings_due",
    "meetings_held",
    "meetings_detail",
    "attendance_records",
    "attendance_present",
    "training_with_target",
    "training_compliant",
)


@dataclass(frozen=True)
class Requirement:
    kind: ActivityKind
    frequency: Frequency
    times: int


def zone_now(now: datetime | None = None) -> datetime:
    return (now or datetime.now(ZONE_TIME)).astimezone(ZONE_TIME)


def periods_for(now: datetime | None = None) -> list[str]:
    """The periods a recompute refreshes: the previous and the current year (UTC+8), each
    followed by its months."""
    year = zone_now(now).year
    return [p for y in (year - 1, year) for p in (str(y), *(f"{y}-{m:02d}" for m in range(1, 13)))]


def parse_period(period: str) -> tuple[int, int | None]:
    """`"2026"` → (2026, None); `"2026-03"` → (2026, 3)."""
    if len(period) == 4 and period.isdigit():
        return int(period), None
    year, _, month = period.partition("-")
    if len(year) == 4 and year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
        return int(year), int(month)
    raise ValueError(f"not a period: {period!r} (YYYY or YYYY-MM)")


def requirements(session: Session) -> list[Requirement]:
    """The zone's schedule of required meetings, or the defaults while it has none."""
    rows = list(session.scalars(select(MeetingRequirement).order_by(MeetingRequirement.kind)))
    if rows:
        return [Requirement(r.kind, r.frequency, r.times) for r in rows]
    return [Requirement(k, f, t) for k, (f, t) in DEFAULT_REQUIREMENTS.items()]


def _month_started(year: int, month: int, now: datetime) -> bool:
    return (year, month) <= (now.year, now.month)


def _sub_periods(frequency: Frequency) -> list[tuple[int, int]]:
    """A requirement's sub-periods of a year as (first month, last month)."""
    if frequency == Frequency.MONTHLY:
        return [(m, m) for m in range(1, 13)]
    if frequency == Frequency.QUARTERLY:
        return [(q, q + 2) for q in (1, 4, 7, 10)]
    return [(1, 12)]


def _meetings(
    reqs: Sequence[Requirement],
    held: Counter,  # (kind, year, month) → held activities
    year: int,
    month: int | None,
    now: datetime,
) -> dict[str, Any]:
    detail: dict[str, dict[str, int]] = {}
    for req in reqs:
        due = done = 0
        for first, last in _sub_periods(req.frequency):
            if month is None:
                counted = _month_started(year, first, now)  # begun: ended or current
            else:
                counted = month == last and _month_started(year, last, now)
            if counted:
                n = sum(held[(req.kind, year, m)] for m in range(first, last + 1))
                due += req.times
                done += min(n, req.times)
        detail[req.kind.value] = {"held": done, "due": due}
    return {
        "meetings_due": sum(d["due"] for d in detail.values()),
        "meetings_held": sum(d["held"] for d in detail.values()),
        "meetings_detail": detail,
    }


def _roster(session: Session, tenant_id: uuid.UUID) -> dict[str, int]:
    by: Counter = Counter()
    for category, status, count in session.execute(
        select(Member.category, Member.party_status, func.count(Member.id))
        .where(Member.tenant_id == tenant_id)
        .group_by(Member.category, Member.party_status)
    ):
        by[(category, status)] += count
    of = lambda c: sum(n for (cat, _), n in by.items() if cat == c)  # noqa: E731
    return {
        "members_total": sum(by.values()),
        "party_members": of(Category.PARTY_MEMBER),
        "party_full": by[(Category.PARTY_MEMBER, PartyStatus.FULL)],
        "party_probationary": by[(Category.PARTY_MEMBER, PartyStatus.PROBATIONARY)],
        "league_members": of(Category.LEAGUE_MEMBER),
        "workers": of(Category.WORKER),
        "others": of(Category.OTHER),
    }


def _training(session: Session, tenant_id: uuid.UUID, year: int, zone: dict) -> dict[str, int]:
    key = ("targets", year)
    if key not in zone:
        zone[key] = {t.category: t.hours for t in targets(session, year=year)}
    by_category = zone[key]
    hours = member_hours(session, tenant_id=tenant_id, year=year)
    with_target = compliant = 0
    for member_id, category in session.execute(
        select(Member.id, Member.category).where(Member.tenant_id == tenant_id)
    ):
        target = by_category[category]
        if target is None:
            continue
        with_target += 1
        if hours.get(member_id, Decimal(0)).quantize(Decimal("0.01")) >= target:
            compliant += 1
    return {"training_with_target": with_target, "training_compliant": compliant}


def compute_branch(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    periods: Iterable[str],
    now: datetime | None = None,
    zone: dict | None = None,
) -> list[dict[str, Any]]:
    """The branch's figures for each of `periods`: dicts with `period` and every column of
    `FIGURES`, in the order given. `zone` caches the zone's settings (schedule, targets) across
    the branches of one zone recompute."""
    zone = {} if zone is None else zone
    now = zone_now(now)
    wanted = [(p, *parse_period(p)) for p in periods]
    if not wanted:
        return []
    years = sorted({y for _, y, _ in wanted})
    start = datetime(years[0], 1, 1, tzinfo=ZONE_TIME)
    end = datetime(years[-1] + 1, 1, 1, tzinfo=ZONE_TIME)

    roster = _roster(session, tenant_id)
    if "requirements" not in zone:
        zone["requirements"] = requirements(session)
    reqs = zone["requirements"]
    in_range = (
        Activity.tenant_id == tenant_id,
        Activity.status == ActivityStatus.HELD,
        Activity.starts_at >= start,
        Activity.starts_at < end,
    )
    held: Counter = Counter()  # (kind, year, month)
    month_of: dict[uuid.UUID, tuple[int, int]] = {}
    for activity_id, kind, starts_at in session.execute(
        select(Activity.id, Activity.kind, Activity.starts_at).where(*in_range)
    ):
        local = starts_at.astimezone(ZONE_TIME)
        month_of[activity_id] = (local.year, local.month)
        held[(kind, local.year, local.month)] += 1
    records: Counter = Counter()  # (year, month)
    present: Counter = Counter()
    for activity_id, status, count in session.execute(
        select(Activity.id, Attendance.status, func.count(Attendance.id))
        .join(
            Activity,
            (Activity.tenant_id == Attendance.tenant_id) & (Activity.id == Attendance.activity_id),
        )
        .where(Attendance.tenant_id == tenant_id, *in_range)
        .group_by(Activity.id, Attendance.status)
    ):
        month = month_of.get(activity_id)
        if month is not None:
            records[month] += count
            if status in ATTENDED:
                present[month] += count
    training = {y: _training(session, tenant_id, y, zone) for y, m in {(y, m) for _, y, m in wanted}
                if m is None}  # fmt: skip

    result = []
    for period, year, month in wanted:
        months = [(year, month)] if month else [(year, m) for m in range(1, 13)]
        kinds: Counter = Counter()
        for (kind, y, m), n in held.items():
            if (y, m) in months:
                kinds[kind.value] += n
        figures: dict[str, Any] = {"period": period, **roster}
        figures["activities_held"] = sum(kinds.values())
        figures["activities_by_kind"] = dict(sorted(kinds.items()))
        figures.update(_meetings(reqs, held, year, month, now))
        figures["attendance_records"] = sum(records[k] for k in months)
        figures["attendance_present"] = sum(present[k] for k in months)
        figures.update(
            training[year]
            if month is None
            else {"training_with_target": 0, "training_compliant": 0}
        )
        result.append(figures)
    return result


def recompute_branch(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    now: datetime | None = None,
    zone: dict | None = None,
) -> list[BranchRollup]:
    """Replace the branch's rows of the current and previous year with fresh figures (in the
    session's transaction, which must be the branch's tenant context); the rows written."""
    periods = periods_for(now)
    figures = compute_branch(session, tenant_id=tenant_id, periods=periods, now=now, zone=zone)
    session.execute(
        delete(BranchRollup).where(
            BranchRollup.tenant_id == tenant_id, BranchRollup.period.in_(periods)
        )
    )
    computed_at = utcnow()
    rows = [BranchRollup(tenant_id=tenant_id, computed_at=computed_at, **f) for f in figures]
    session.add_all(rows)
    session.flush()
    return rows
