"""The branch rollup: each branch's figures per period, computed from its own records.

Plain functions (no Flask); nothing commits. One computation serves both callers: the zone
recompute reads every branch's records at once in the zone context (`compute_figures`), the
recompute after a branch's writes runs the same queries narrowed to that branch in its tenant
context (`compute_branch`), so the two cannot disagree. `recompute_branch` replaces the branch's
rows of the current and the previous year (each year and its 12 months, 26 rows) with fresh
figures: the same records give the same rows (only `computed_at` differs). Rows of older
periods are kept as last computed.

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

Cost: three GROUP BY queries over the records (roster; held activities with their attendance
counts; training hours against the targets) plus the zone's settings, whatever the number of
branches read — the zone's 2,000 branches cost what one branch costs in round trips. The
database returns aggregates only (a row per branch, month and kind at most), never a row per
member or per attendance record; the meeting rules are applied in Python on those counts.

Over every branch (more than `LISTED_LIMIT`) the queries scan the tables once each, with
planner settings for that (`ZONE_SCAN_SETTINGS`, PostgreSQL); for a few they name them.

Writing: a branch's rows are written in its own tenant context, the only one that may write
them (the isolation hook checks every row; row-level security again): after a branch's writes
one DELETE and one INSERT (`write_rows`), in the zone recompute one INSERT … ON CONFLICT DO
UPDATE per branch (`upsert_rows`: rows refreshed in place, cheaper by thousands; on PostgreSQL
the branch's rows travel as one JSON array, a parameter per branch, not per row). Each row
carries `computed_at`, the instant its computation began to read; both replace only rows
computed earlier, so a recompute that read before a concurrent one never overwrites the newer
figures with older ones.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from service.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Attendance,
    ZoneActivity,
    ZoneRegistration,
)
from service.activities.service import ATTENDED
from service.activities.training import ZONE_TIME, targets, year_bounds
from service.members.models import Category, Member, PartyStatus
from service.rollups.models import (
    DEFAULT_REQUIREMENTS,
    BranchRollup,
    Frequency,
    MeetingRequirement,
)
from tenants.orm import utcnow, uuid7

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
# up to this many branches, the queries name them (an index lookup each); more, and they read
# every branch's records in one scan and keep the wanted ones (an IN list of thousands of ids
# costs more than it saves)
LISTED_LIMIT = 100
_TARGET = Numeric(6, 2)  # the type of TrainingTarget.hours: bound as a number on every database


@dataclass(frozen=True)
class Requirement:
    kind: ActivityKind
    frequency: Frequency
    times: int


@dataclass(frozen=True)
class ZoneSettings:
    """What every branch is measured against: the meeting schedule, and each year's training
    target per category (None: no target). Read once per zone recompute."""

    requirements: tuple[Requirement, ...]
    targets: Mapping[int, Mapping[Category, Decimal | None]]


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


def zone_settings(session: Session, years: Iterable[int]) -> ZoneSettings:
    """The zone's schedule and the training targets of `years`."""
    return ZoneSettings(
        tuple(requirements(session)),
        {y: {t.category: t.hours for t in targets(session, year=y)} for y in sorted(set(years))},
    )


# --- reading: aggregates of every wanted branch at once ------------------------------------------


@dataclass
class _Counts:
    """One branch's aggregates, as the queries return them; months are indexes into the
    computation's months (January of its first year on)."""

    months: int
    roster: Counter = field(default_factory=Counter)  # (category, party status) → members
    held: dict[str, list[int]] = field(default_factory=dict)  # kind → held activities by month
    records: list[int] = field(default_factory=list)  # attendance records by month
    present: list[int] = field(default_factory=list)  # of them present or late, by month
    training: dict[int, tuple[int, int]] = field(default_factory=dict)  # year → (target, met)

    def __post_init__(self) -> None:
        self.records = [0] * self.months
        self.present = [0] * self.months


def _rows(model: type, tenant_ids: Sequence[uuid.UUID] | None, *where) -> Subquery:
    """A tenant-owned table's rows as a subquery of its whole entity, narrowed to the listed
    branches (none: every branch). The aggregates are taken over these: an entity select is
    what the isolation layer's loader criteria reach inside a subquery (in a tenant context
    it refuses a tenant-owned table queried otherwise), and the databases inline it, so it
    costs nothing over naming the table."""
    if tenant_ids is not None:
        where = (
            model.tenant_id == tenant_ids[0]
            if len(tenant_ids) == 1
            else model.tenant_id.in_(tenant_ids),
            *where,
        )
    return select(model).where(*where).subquery(model.__tablename__)


def _months(years: Sequence[int]) -> list[tuple[int, int]]:
    return [(y, m) for y in range(years[0], years[-1] + 1) for m in range(1, 13)]


def _month_of(column, months: Sequence[tuple[int, int]]) -> ColumnElement[int]:
    """The index in `months` of the zone-calendar month `column` (an instant) falls in, by
    comparison with each month's first instant: the same comparisons on every database, where
    date functions and time zones differ (rows before the first month are filtered out)."""
    starts = [datetime(y, m, 1, tzinfo=ZONE_TIME) for y, m in months[1:]]
    return case(*[(column < start, index) for index, start in enumerate(starts)], else_=len(starts))


def _read_roster(session: Session, tenant_ids, counts: dict[uuid.UUID, _Counts]) -> None:
    members = _rows(Member, tenant_ids)
    for tenant_id, category, status, count in session.execute(
        select(
            members.c.tenant_id, members.c.category, members.c.party_status, func.count()
        ).group_by(members.c.tenant_id, members.c.category, members.c.party_status)
    ):
        if tenant_id in counts:
            counts[tenant_id].roster[(category, status)] += count


def _read_activities(
    session: Session,
    tenant_ids,
    counts: dict[uuid.UUID, _Counts],
    months: Sequence[tuple[int, int]],
) -> None:
    """Held activities per branch, month and kind, with their attendance records and those
    present or late: attendance is first counted per activity (one pass over the records),
    then joined to the held activities and folded into months."""
    start = datetime(*months[0], 1, tzinfo=ZONE_TIME)
    end = datetime(months[-1][0] + 1, 1, 1, tzinfo=ZONE_TIME)
    attendance = _rows(Attendance, tenant_ids)
    marks = (
        select(
            attendance.c.tenant_id,
            attendance.c.activity_id,
            func.count().label("records"),
            func.count(case((attendance.c.status.in_(ATTENDED), 1))).label("present"),
        )
        .group_by(attendance.c.tenant_id, attendance.c.activity_id)
        .subquery("marks")
    )
    activities = _rows(
        Activity,
        tenant_ids,
        Activity.status == ActivityStatus.HELD,
        Activity.starts_at >= start,
        Activity.starts_at < end,
    )
    held = (
        select(
            activities.c.tenant_id,
            activities.c.kind,
            _month_of(activities.c.starts_at, months).label("month"),
            func.coalesce(marks.c.records, 0).label("records"),
            func.coalesce(marks.c.present, 0).label("present"),
        )
        .outerjoin(
            marks,
            (marks.c.tenant_id == activities.c.tenant_id)
            & (marks.c.activity_id == activities.c.id),
        )
        .subquery("held")
    )
    for tenant_id, kind, month, activities_held, records, present in session.execute(
        select(
            held.c.tenant_id,
            held.c.kind,
            held.c.month,
            func.count(),
            func.sum(held.c.records),
            func.sum(held.c.present),
        ).group_by(held.c.tenant_id, held.c.month, held.c.kind)
    ):
        branch = counts.get(tenant_id)
        if branch is None:
            continue
        by_month = branch.held.get(kind.value)
        if by_month is None:
            by_month = branch.held[kind.value] = [0] * branch.months
        by_month[month] += activities_held
        branch.records[month] += int(records)
        branch.present[month] += int(present)


def _read_training(
    session: Session,
    tenant_ids,
    counts: dict[uuid.UUID, _Counts],
    years: Sequence[int],
    settings: ZoneSettings,
) -> None:
    """Per branch and year: members with a target, and those whose hours reach it. Hours are
    summed per member in the database (a column per year), compared with the category's target
    there, and counted per branch: the members never leave the database. Activities without
    study hours add nothing and are left out of the join."""
    bounds = {y: year_bounds(y) for y in years}
    first, last = bounds[years[0]][0], bounds[years[-1]][1]

    def per_year(starts_at, hours) -> list:
        return [
            case((and_(starts_at >= s, starts_at < e), hours), else_=0).label(f"h{y}")
            for y, (s, e) in bounds.items()
        ]

    attendance = _rows(Attendance, tenant_ids, Attendance.status.in_(ATTENDED))
    activities = _rows(
        Activity,
        tenant_ids,
        Activity.status == ActivityStatus.HELD,
        Activity.starts_at >= first,
        Activity.starts_at < last,
        Activity.study_hours > 0,
    )
    own = select(
        attendance.c.tenant_id,
        attendance.c.member_id,
        *per_year(activities.c.starts_at, activities.c.study_hours),
    ).join(
        activities,
        (activities.c.tenant_id == attendance.c.tenant_id)
        & (activities.c.id == attendance.c.activity_id),
    )
    registrations = _rows(ZoneRegistration, tenant_ids, ZoneRegistration.attendance.in_(ATTENDED))
    zone = (
        select(
            registrations.c.tenant_id,
            registrations.c.member_id,
            *per_year(ZoneActivity.starts_at, ZoneActivity.study_hours),
        )
        .join(ZoneActivity, ZoneActivity.id == registrations.c.zone_activity_id)
        .where(
            ZoneActivity.status == ActivityStatus.HELD,
            ZoneActivity.starts_at >= first,
            ZoneActivity.starts_at < last,
            ZoneActivity.study_hours > 0,
        )
    )
    attended = union_all(own, zone).subquery("attended")
    hours = (
        select(
            attended.c.tenant_id,
            attended.c.member_id,
            *[func.sum(attended.c[f"h{y}"]).label(f"h{y}") for y in years],
        )
        .group_by(attended.c.tenant_id, attended.c.member_id)
        .subquery("hours")
    )
    members = _rows(Member, tenant_ids)
    columns = []
    for y in years:
        by_category = {c: t for c, t in settings.targets[y].items() if t is not None}
        if not by_category:
            columns += [literal(0), literal(0)]
            continue
        target = case(
            *[(members.c.category == c, literal(t, _TARGET)) for c, t in by_category.items()]
        )
        done = func.round(func.coalesce(hours.c[f"h{y}"], 0), 2)  # SQLite sums floats
        columns += [func.count(target), func.count(case((done >= target, 1)))]
    for tenant_id, *figures in session.execute(
        select(members.c.tenant_id, *columns)
        .outerjoin(
            hours,
            (hours.c.tenant_id == members.c.tenant_id) & (hours.c.member_id == members.c.id),
        )
        .group_by(members.c.tenant_id)
    ):
        branch = counts.get(tenant_id)
        if branch is not None:
            for index, y in enumerate(years):
                branch.training[y] = (int(figures[2 * index]), int(figures[2 * index + 1]))


# on PostgreSQL, for the reads over every branch: the row-level security quals (a setting
# compared per row) make the planner expect a few hundred rows where there are millions, and
# pick nested loops and merge joins with sorts spilled to disk; these transaction-local settings
# give it hash joins and in-memory hash aggregates instead (measured: tests/perf/bench_rollup.py)
ZONE_SCAN_SETTINGS = {
    "enable_nestloop": "off",
    "enable_mergejoin": "off",
    "work_mem": "64MB",
    "jit": "off",
}


@contextmanager
def _zone_scan(session: Session) -> Iterator[None]:
    """Planner settings for the zone-wide reads (transaction-local), restored after them; if
    the reads fail, the rollback that follows undoes them."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = list(ZONE_SCAN_SETTINGS)
    before = session.execute(select(*[func.current_setting(n) for n in names])).one()
    set_all = select(*[func.set_config(n, bindparam(f"v{i}"), True) for i, n in enumerate(names)])
    session.execute(set_all, {f"v{i}": ZONE_SCAN_SETTINGS[n] for i, n in enumerate(names)})
    yield
    session.execute(set_all, {f"v{i}": value for i, value in enumerate(before)})


# --- the rules, on one branch's aggregates -------------------------------------------------------


def _month_started(year: int, month: int, now: datetime) -> bool:
    return (year, month) <= (now.year, now.month)


def _sub_periods(frequency: Frequency) -> list[tuple[int, int]]:
    """A requirement's sub-periods of a year as (first month, last month)."""
    if frequency == Frequency.MONTHLY:
        return [(m, m) for m in range(1, 13)]
    if frequency == Frequency.QUARTERLY:
        return [(q, q + 2) for q in (1, 4, 7, 10)]
    return [(1, 12)]


# a requirement's plan for one year: (kind, times, [(first index, stop index, last month,
# counted in the year row, counted in the last month's row)])
_Plan = list[tuple[str, int, list[tuple[int, int, int, bool, bool]]]]


def _meeting_plan(reqs: Sequence[Requirement], year: int, first_year: int, now: datetime) -> _Plan:
    """Which sub-periods are due in the year's row and in which month's row: the same for every
    branch, so worked out once."""
    base = (year - first_year) * 12 - 1  # month m of `year` is index base + m
    plan: _Plan = []
    for req in reqs:
        subs = []
        for first, last in _sub_periods(req.frequency):
            begun = _month_started(year, first, now)  # begun: ended or current
            subs.append(
                (base + first, base + last + 1, last, begun, _month_started(year, last, now))
            )
        plan.append((req.kind.value, req.times, subs))
    return plan


def _meetings(plan: _Plan, held: Mapping[str, list[int]], months: int) -> dict[int | None, dict]:
    """One branch's meeting figures of a year (key None) and of each of its months (1–12)."""
    nothing = [0] * months
    details: dict[int | None, dict[str, dict[str, int]]] = {m: {} for m in (None, *range(1, 13))}
    for kind, times, subs in plan:
        by_month = held.get(kind, nothing)
        due = done = 0
        in_month: dict[int, int] = {}
        for start, stop, last, in_year, in_last_month in subs:
            counted = min(sum(by_month[start:stop]), times)
            if in_year:
                due += times
                done += counted
            if in_last_month:
                in_month[last] = counted
        details[None][kind] = {"held": done, "due": due}
        for month in range(1, 13):
            if month in in_month:
                details[month][kind] = {"held": in_month[month], "due": times}
            else:
                details[month][kind] = {"held": 0, "due": 0}
    return {
        month: {
            "meetings_due": sum(d["due"] for d in detail.values()),
            "meetings_held": sum(d["held"] for d in detail.values()),
            "meetings_detail": detail,
        }
        for month, detail in details.items()
    }


def _roster(by: Counter) -> dict[str, int]:
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


def _branch_figures(
    counts: _Counts,
    wanted: Sequence[tuple[str, int, int | None]],
    plans: Mapping[int, _Plan],
    first_year: int,
) -> list[dict[str, Any]]:
    """One branch's rows for `wanted` (period, year, month), from its aggregates."""
    roster = _roster(counts.roster)
    meetings = {y: _meetings(plan, counts.held, counts.months) for y, plan in plans.items()}
    kinds = sorted(counts.held.items())
    result = []
    for period, year, month in wanted:
        start = (year - first_year) * 12 + (month - 1 if month else 0)
        stop = start + (1 if month else 12)
        by_kind = {}
        for kind, by_month in kinds:
            n = sum(by_month[start:stop])
            if n:
                by_kind[kind] = n
        with_target, compliant = counts.training.get(year, (0, 0)) if month is None else (0, 0)
        result.append(
            {
                "period": period,
                **roster,
                "activities_held": sum(by_kind.values()),
                "activities_by_kind": by_kind,
                **meetings[year][month],
                "attendance_records": sum(counts.records[start:stop]),
                "attendance_present": sum(counts.present[start:stop]),
                "training_with_target": with_target,
                "training_compliant": compliant,
            }
        )
    return result


# --- computing -----------------------------------------------------------------------------------


def compute_figures(
    session: Session,
    *,
    tenant_ids: Sequence[uuid.UUID],
    periods: Iterable[str],
    now: datetime | None = None,
    settings: ZoneSettings | None = None,
    failed: dict[uuid.UUID, Exception] | None = None,
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each branch's figures for each of `periods`: dicts with `period` and every column of
    `FIGURES`, in the order given, by tenant id.

    The session's context must reach every listed branch: the zone context (reads only) for
    many, a branch's own for itself. With more than `LISTED_LIMIT` branches the queries scan
    every branch's records. With `failed`, a branch whose figures cannot be made is recorded
    there and left out instead of failing the others."""
    now = zone_now(now)
    wanted = [(p, *parse_period(p)) for p in periods]
    tenant_ids = list(dict.fromkeys(tenant_ids))
    if not wanted or not tenant_ids:
        return {}
    years = sorted({y for _, y, _ in wanted})
    if settings is None or not set(years) <= set(settings.targets):
        settings = zone_settings(session, years)
    months = _months(years)
    counts = {t: _Counts(len(months)) for t in tenant_ids}
    trained = sorted({y for _, y, m in wanted if m is None})
    listed = tenant_ids if len(tenant_ids) <= LISTED_LIMIT else None
    with nullcontext() if listed else _zone_scan(session):
        _read_roster(session, listed, counts)
        _read_activities(session, listed, counts, months)
        if trained:
            _read_training(session, listed, counts, trained, settings)
    plans = {y: _meeting_plan(settings.requirements, y, years[0], now) for y in years}
    result = {}
    for tenant_id, branch in counts.items():
        try:
            result[tenant_id] = _branch_figures(branch, wanted, plans, years[0])
        except Exception as error:
            if failed is None:
                raise
            failed[tenant_id] = error
    return result


def compute_branch(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    periods: Iterable[str],
    now: datetime | None = None,
    settings: ZoneSettings | None = None,
) -> list[dict[str, Any]]:
    """One branch's figures for each of `periods` (`compute_figures` narrowed to it)."""
    computed = compute_figures(
        session, tenant_ids=[tenant_id], periods=periods, now=now, settings=settings
    )
    return computed.get(tenant_id, [])


# --- writing -------------------------------------------------------------------------------------

_KEY = ("tenant_id", "period")
_REFRESHED = [c.name for c in BranchRollup.__table__.columns if c.name not in (*_KEY, "id")]


_STATEMENTS: dict[tuple[str, str], Any] = {}  # built once: building one costs ~1 ms


def _insert(session: Session):
    """INSERT of rollup rows that leaves alone a (tenant, period) already holding a row (one
    computed later than ours, which the DELETE before it kept)."""
    dialect = session.get_bind().dialect.name
    statement = _STATEMENTS.get(("insert", dialect))
    if statement is None:
        table = BranchRollup.__table__
        if dialect == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=_KEY)
        elif dialect == "sqlite":
            statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=_KEY)
        else:
            statement = insert(table)
        _STATEMENTS[("insert", dialect)] = statement
    return statement


def _upsert(session: Session):
    """INSERT of rollup rows that, where the (tenant, period) has a row computed earlier,
    refreshes it in place (its figures and `computed_at`; tenant, period and id stay)."""
    dialect = session.get_bind().dialect.name
    statement = _STATEMENTS.get(("upsert", dialect))
    if statement is None:
        table = BranchRollup.__table__
        values = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        statement = values.on_conflict_do_update(
            index_elements=_KEY,
            set_={c: values.excluded[c] for c in _REFRESHED},
            where=table.c.computed_at < values.excluded.computed_at,
        )
        _STATEMENTS[("upsert", dialect)] = statement
    return statement


def _recordset_upsert():
    """PostgreSQL: `_upsert` of a branch's rows sent as ONE JSON array, unpacked by
    `jsonb_to_recordset`: one statement and one parameter per branch instead of a parameter
    set per row (binding 26 rows × 20 parameters cost more than the database's work). The
    tenant and `computed_at` are parameters of their own, so the isolation hook sees whose rows
    these are."""
    statement = _STATEMENTS.get(("recordset", "postgresql"))
    if statement is None:
        table = BranchRollup.__table__
        carried = [c for c in table.columns if c.name not in ("tenant_id", "computed_at")]
        records = (
            func.jsonb_to_recordset(bindparam("rows", type_=postgresql.JSONB))
            .table_valued(*[column(c.name, c.type) for c in carried])
            .render_derived(name="figures", with_types=True)
        )
        values = postgresql.insert(table).from_select(
            ["tenant_id", "computed_at", *[c.name for c in carried]],
            select(
                bindparam("tenant_id", type_=table.c.tenant_id.type),
                bindparam("computed_at", type_=table.c.computed_at.type),
                *[records.c[c.name] for c in carried],
            ),
        )
        statement = values.on_conflict_do_update(
            index_elements=_KEY,
            set_={c: values.excluded[c] for c in _REFRESHED},
            where=table.c.computed_at < values.excluded.computed_at,
        )
        _STATEMENTS[("recordset", "postgresql")] = statement
    return statement


def _tenant_rows(
    tenant_id: uuid.UUID, figures: Sequence[Mapping[str, Any]], computed_at: datetime
) -> list[dict[str, Any]]:
    return [{**f, "tenant_id": tenant_id, "computed_at": computed_at} for f in figures]


def write_rows(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    figures: Sequence[Mapping[str, Any]],
    computed_at: datetime,
) -> list[dict[str, Any]]:
    """Replace the branch's rows of the figures' periods (the session must be in the branch's
    tenant context: the isolation layer checks every row, and on PostgreSQL row-level security
    again). A stored row computed at or after `computed_at` stays: it reflects newer records.
    One DELETE and one INSERT of all the rows; the rows offered."""
    periods = [f["period"] for f in figures]
    session.execute(
        delete(BranchRollup)
        .where(
            BranchRollup.tenant_id == tenant_id,
            BranchRollup.period.in_(periods),
            BranchRollup.computed_at < computed_at,
        )
        .execution_options(synchronize_session=False)  # no rollup objects are loaded
    )
    rows = _tenant_rows(tenant_id, figures, computed_at)
    if rows:
        # the table, not the entity: one executemany (the ORM's bulk path would group the rows
        # first); the isolation hook still checks every row's tenant
        session.execute(_insert(session), rows)
    return rows


def upsert_rows(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    figures: Sequence[Mapping[str, Any]],
    computed_at: datetime,
) -> int:
    """What `write_rows` does, in one statement: rows computed earlier are refreshed in place
    (on PostgreSQL a heap-only update, no index entry and no foreign-key check), missing ones
    inserted, newer ones kept. The zone recompute writes thousands of branches this way; the
    number of rows offered."""
    if not figures:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        # ids as JSON strings: a refreshed row keeps its own, a new one takes this one
        records = [{**f, "id": str(uuid7())} for f in figures]
        session.execute(
            _recordset_upsert(),
            {"tenant_id": tenant_id, "computed_at": computed_at, "rows": records},
        )
    else:
        session.execute(_upsert(session), _tenant_rows(tenant_id, figures, computed_at))
    return len(figures)


def recompute_branch(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    now: datetime | None = None,
    settings: ZoneSettings | None = None,
) -> list[dict[str, Any]]:
    """Replace the branch's rows of the current and previous year with fresh figures (in the
    session's transaction, which must be the branch's tenant context); the rows written."""
    computed_at = utcnow()  # before the first read: the figures reflect records from here on
    periods = periods_for(now)
    figures = compute_branch(
        session, tenant_id=tenant_id, periods=periods, now=now, settings=settings
    )
    return write_rows(session, tenant_id=tenant_id, figures=figures, computed_at=computed_at)
