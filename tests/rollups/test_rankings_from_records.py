"""The zone's rankings end to end, from records to `GET /api/v1/zone/rankings`, against an
independent computation from the raw rows.

A zone is generated from a seed (`random.Random(SEED)`): branches of several industries and
enterprise types, members of every category, activities of every kind and status over the
previous and the current year (the default schedule's required meetings among them, some at the
hours where the UTC date is another month's or year's), attendance of every status, training
hours from the branches' and the zone's activities, the zone's own training targets and ranking
weights (set through the API). Edge cases: a branch without any activity, a branch whose
attendance is all absent, a branch with no party member, three branches with identical records
(two of them with the same name), a suspended and an archived branch with the best figures of
the zone (neither may be ranked).

After a full recompute (`recompute_tenants()`, repeated if a month ended while it ran, so that
the months due are those of one clock reading), the expected ranking of every period of both
years (26 periods), and of three filtered sets, is worked out here in plain Python from the raw
tables read with plain SQL (as the database's owner, past row-level security), without the
service's rollup, ranking or training code, by the rules of the docstrings of
`service.rollups.compute` and `service.rollups.ranking`. The API's answer must equal it field by
field: order, rank, total, and per indicator numerator, denominator, raw value, score, weight
and applicability.
"""

from __future__ import annotations

import calendar
import math
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from service.activities import service as activities
from service.activities.models import (
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    ConsultationTopic,
    TrainingTopic,
)
from service.audit.recorder import set_actor
from service.database import db
from service.members.models import Category, Gender, PartyStatus
from service.members.service import create_member
from service.rollups.jobs import recompute_tenants
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.registry import TenantStatus
from tests.conftest import Caller

SEED = 20240701
CST = timezone(timedelta(hours=8))
RANKINGS = "/api/v1/zone/rankings"
WEIGHTS_URL = "/api/v1/zone/ranking-weights"
TARGETS_URL = "/api/v1/zone/training-targets"
INDICATORS = ("meetings", "attendance", "training", "activity")
# the zone's own weights, none of them the default
WEIGHTS = {"meetings": "3", "attendance": "2", "training": "1.5", "activity": "0.75"}
# the default schedule (`DEFAULT_REQUIREMENTS`), restated: used while the table is empty
DEFAULT_SCHEDULE = [
    ("committee-meeting", "monthly", 1),
    ("general-meeting", "quarterly", 1),
    ("party-lecture", "quarterly", 1),
]
# the default targets (hours per year by category), restated: used where the zone set none
DEFAULT_TARGETS = {"party-member": Decimal(32)}
ATTENDED = ("present", "late")
STATUSES = [ActivityStatus.HELD, ActivityStatus.PLANNED, ActivityStatus.CANCELLED]
OTHER_KINDS = [
    ActivityKind.GROUP_MEETING,
    ActivityKind.THEME_DAY,
    ActivityKind.TRAINING,
    ActivityKind.EXPERT_LECTURE,
    ActivityKind.CONSULTATION,
    ActivityKind.CULTURAL_SPORTS,
    ActivityKind.VOLUNTEER_SERVICE,
    ActivityKind.ANNUAL_EMPLOYEE_MEETING,
]
QUARTERLY_CHANCES = ((ActivityKind.GENERAL_MEETING, 0.75), (ActivityKind.PARTY_LECTURE, 0.6))
TRAINING_KINDS = (ActivityKind.TRAINING, ActivityKind.EXPERT_LECTURE, ActivityKind.PARTY_LECTURE)
# local times of day, two of them on another UTC date than the local one
TIMES = [(0, 30), (7, 59), (9, 0), (14, 30), (23, 30)]


# --- the generated zone --------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    slug: str
    name: str
    industry: str
    enterprise_type: str
    profile: str  # random | absent | empty | workers | busy | tie
    status: TenantStatus = TenantStatus.ACTIVE


SPECS = [
    Spec("soft-alpha", "阿尔法软件党支部", "软件", "private", "random"),
    Spec("soft-beta", "贝塔软件党支部", "软件", "foreign-funded", "random"),
    Spec("soft-gamma", "伽马软件党支部", "软件", "joint-venture", "random"),
    Spec("make-delta", "德尔塔制造党支部", "制造", "private", "random"),
    Spec("make-absent", "缺席制造党支部", "制造", "other", "absent"),  # everyone always absent
    Spec("make-empty", "空白制造党支部", "制造", "private", "empty"),  # no activity at all
    Spec("bio-tie-1", "联合党支部", "生物医药", "private", "tie"),  # three identical branches,
    Spec("bio-tie-2", "联合党支部", "生物医药", "private", "tie"),  # two of them with one name
    Spec("bio-tie-3", "东方党支部", "生物医药", "foreign-funded", "tie"),
    Spec("logi-workers", "物流职工党支部", "物流", "other", "workers"),  # no party member
    # the best figures of the zone, on branches that are not ranked
    Spec("soft-closed", "停用软件党支部", "软件", "private", "busy", TenantStatus.SUSPENDED),
    Spec("soft-old", "撤销软件党支部", "软件", "private", "busy", TenantStatus.ARCHIVED),
]


@dataclass
class Planned:
    kind: ActivityKind
    starts: datetime  # local (UTC+8)
    status: ActivityStatus
    hours: Decimal
    marks: dict[int, AttendanceStatus] = field(default_factory=dict)  # member index → status


@dataclass
class Plan:
    members: list[tuple[Category, PartyStatus | None]]
    activities: list[Planned]


def _when(rng: random.Random, year: int, month: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    hour, minute = rng.choice(TIMES)
    return datetime(year, month, rng.choice([1, 2, 15, 28, last]), hour, minute, tzinfo=CST)


def _members(rng: random.Random, profile: str) -> list[tuple[Category, PartyStatus | None]]:
    if profile == "workers":
        return [(Category.WORKER, None)] * rng.randint(2, 4) + [(Category.OTHER, None)]
    if profile == "busy":
        return [(Category.PARTY_MEMBER, PartyStatus.FULL)]
    people = [(Category.PARTY_MEMBER, PartyStatus.FULL)] * rng.randint(2, 5)
    people += [(Category.PARTY_MEMBER, PartyStatus.PROBATIONARY)] * rng.randint(1, 2)
    people += [(Category.LEAGUE_MEMBER, None)] * rng.randint(0, 2)
    people += [(Category.WORKER, None)] * rng.randint(0, 3)
    people += [(Category.OTHER, None)] * rng.randint(0, 2)
    rng.shuffle(people)
    return people


def _plan(rng: random.Random, profile: str, year: int, now: datetime) -> Plan:
    """A branch's members and activities over `year - 1` and `year` (and a few outside)."""
    members = _members(rng, profile)
    plan = Plan(members, [])
    if profile == "empty":
        return plan

    def add(kind: ActivityKind, starts: datetime, *, status: ActivityStatus | None = None):
        if status is None:
            status = rng.choices(STATUSES, [8, 1, 1])[0]
        if status == ActivityStatus.HELD and starts > now - timedelta(hours=2):
            status = ActivityStatus.PLANNED  # what has not happened yet is only planned
        hours = Decimal(
            rng.choice(["1.5", "2", "3.25", "4"] if kind in TRAINING_KINDS else ["0", "0.5", "1"])
        )
        marks = {}
        if status == ActivityStatus.HELD:
            chosen = rng.sample(range(len(members)), rng.randint(0, len(members)))
            for index in chosen:
                marks[index] = rng.choices(list(AttendanceStatus), [6, 2, 1, 2])[0]
            if profile == "absent":
                marks = dict.fromkeys(range(len(members)), AttendanceStatus.ABSENT)
            if profile == "busy":
                marks = {0: AttendanceStatus.PRESENT}
        plan.activities.append(Planned(kind, starts, status, hours, marks))

    if profile == "busy":  # every meeting held, and far more activities than anyone
        held = ActivityStatus.HELD
        for month in range(1, 13):
            add(ActivityKind.COMMITTEE_MEETING, _when(rng, year - 1, month), status=held)
            for _ in range(3):
                add(ActivityKind.THEME_DAY, _when(rng, year - 1, month), status=held)
        for month in (2, 5, 8, 11):
            add(ActivityKind.GENERAL_MEETING, _when(rng, year - 1, month), status=held)
            add(ActivityKind.PARTY_LECTURE, _when(rng, year - 1, month), status=held)
        return plan
    for y in (year - 1, year):
        last_month = 12 if y < year else now.month
        for month in range(1, last_month + 1):
            for _ in range(rng.choices([0, 1, 2], [2, 6, 2])[0]):
                add(ActivityKind.COMMITTEE_MEETING, _when(rng, y, month))
        for first in (1, 4, 7, 10):
            for kind, chance in QUARTERLY_CHANCES:
                if first <= last_month and rng.random() < chance:
                    for _ in range(rng.choice([1, 1, 2])):
                        add(kind, _when(rng, y, min(first + rng.randrange(3), last_month)))
        others = rng.randint(4, 8) if profile != "workers" else 30 if y < year else 4
        for _ in range(others):
            add(rng.choice(OTHER_KINDS), _when(rng, y, rng.randint(1, last_month)))
    # planned for later this year, and records outside the two years (never counted)
    add(ActivityKind.COMMITTEE_MEETING, now + timedelta(days=3), status=ActivityStatus.PLANNED)
    add(ActivityKind.GENERAL_MEETING, datetime(year - 2, 12, 31, 23, 30, tzinfo=CST))
    add(ActivityKind.TRAINING, datetime(year - 2, 6, 1, 9, 0, tzinfo=CST))
    return plan


def _edges(year: int) -> list[Planned]:
    """Held activities on the zone's year boundaries (UTC+8 against UTC)."""
    every = dict.fromkeys(range(3), AttendanceStatus.PRESENT)
    held = ActivityStatus.HELD
    return [
        # 16:30 UTC on 31 December of year - 2: January of year - 1 in the zone's calendar
        Planned(
            ActivityKind.PARTY_LECTURE,
            datetime(year - 1, 1, 1, 0, 30, tzinfo=CST),
            held,
            Decimal("2.5"),
            every,
        ),
        # 15:59 UTC: still December of year - 1
        Planned(
            ActivityKind.COMMITTEE_MEETING,
            datetime(year - 1, 12, 31, 23, 59, tzinfo=CST),
            held,
            Decimal("0.25"),
            every,
        ),
        # 16:00 UTC on 31 December of year - 1: January of year
        Planned(
            ActivityKind.TRAINING, datetime(year, 1, 1, 0, 0, tzinfo=CST), held, Decimal(8), every
        ),
    ]


def _session(context: Context):
    session = db.new_session()
    bind_context(session, context)
    set_actor(session, {"iss": None, "sub": "test:rankings-from-records", "name": None})
    return session


def _write_branch(app, spec: Spec, plan: Plan) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The branch, its members and its records, through the service layer, in one transaction
    (its outbox message recomputes the branch once, after the commit)."""
    with app.app_context():
        session = _session(Context.system())
        tenant = provisioning.create_tenant(
            session,
            slug=spec.slug,
            name=spec.name,
            enterprise_name=f"{spec.name}所在公司",
            enterprise_type=spec.enterprise_type,
            industry=spec.industry,
            employee_count=80,
            organization_type="branch",
        )
        session.commit()
        tenant_id = tenant.id
        session.close()
        session = _session(Context.tenant(tenant_id))
        ids = []
        for index, (category, status) in enumerate(plan.members):
            fields = {"name": f"成员{index:02d}", "gender": Gender.FEMALE, "category": category}
            if status:
                fields["party_status"] = status
            ids.append(create_member(session, tenant_id=tenant_id, fields=fields).id)
        for item in plan.activities:
            fields: dict[str, Any] = {
                "kind": item.kind,
                "title": f"{item.kind.value} {item.starts:%Y-%m-%d}",
                "starts_at": item.starts,
                "ends_at": item.starts + timedelta(minutes=90),
                "status": item.status,
                "study_hours": item.hours,
            }
            if item.kind == ActivityKind.CONSULTATION:
                fields["consultation_topic"] = ConsultationTopic.LAW
            if item.kind == ActivityKind.TRAINING:
                fields["training_topic"] = TrainingTopic.PARTY_AFFAIRS
            made = activities.create_activity(session, tenant_id=tenant_id, fields=fields)
            if item.marks:
                batch = [
                    {"member_id": ids[i], "status": s, "reason": "公出" if s == "excused" else None}
                    for i, s in item.marks.items()
                    if i < len(ids)
                ]
                activities.replace_attendance(session, activity=made, items=batch)
        session.commit()
        session.close()
    return tenant_id, ids


def _ok(response, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def _zone_activity(issuer, client, starts: datetime, hours: str, who: dict) -> None:
    """A held zone activity through the API: `who` maps (slug, member id) to the attendance
    recorded (None: registered, attendance never recorded)."""
    zone = Caller(client, issuer.token(["pmsc:zone:admin"]))
    body = {
        "kind": "expert-lecture",
        "title": "专家讲座",
        "starts_at": starts.isoformat(),
        "ends_at": starts.isoformat(),
        "study_hours": hours,
    }
    made = zone.post("/api/v1/zone/activities", json=body)
    created = _ok(made, 201)
    registrations = {}
    for slug, member_id in who:
        admin = Caller(client, issuer.token([f"pmsc:branch:{slug}:admin"]))
        url = f"/api/v1/t/{slug}/zone-activities/{created['id']}/registrations"
        registration = _ok(admin.post(url, json={"member_id": str(member_id)}), 201)
        registrations[(slug, member_id)] = (admin, f"{url}/{registration['id']}")
    held = zone.patch(
        f"/api/v1/zone/activities/{created['id']}",
        json={"status": "held"},
        headers={"If-Match": made.headers["ETag"]},
    )
    _ok(held)
    for key, attendance in who.items():
        if attendance is not None:
            admin, url = registrations[key]
            _ok(admin.put(url, json={"attendance": attendance}))


@dataclass
class Zone:
    year: int  # the current year (UTC+8) when the zone was recomputed
    now: datetime  # when the recompute ran (UTC+8)
    tenant_ids: dict[str, uuid.UUID]
    report: Any
    raw: Raw


def _generate(app, issuer, year: int, now: datetime) -> dict[str, uuid.UUID]:
    client = app.test_client()
    zone = Caller(client, issuer.token(["pmsc:zone:admin"]))
    # the zone's settings first (a target change recomputes the whole zone: still empty)
    targets = [
        {"category": "party-member", "hours": 10},
        {"category": "league-member", "hours": 3.5},
    ]
    _ok(zone.put(f"{TARGETS_URL}/{year - 1}", json=targets))
    current = zone.get(WEIGHTS_URL)
    _ok(current)
    put = zone.put(WEIGHTS_URL, json=WEIGHTS, headers={"If-Match": current.headers["ETag"]})
    assert _ok(put) == {k: float(v) for k, v in WEIGHTS.items()}

    rng = random.Random(SEED)
    tie_plan = _plan(rng, "tie", year, now)
    tenant_ids, member_ids = {}, {}
    for spec in SPECS:
        plan = tie_plan if spec.profile == "tie" else _plan(rng, spec.profile, year, now)
        if spec.slug == "soft-alpha":
            plan.activities += [e for e in _edges(year) if e.starts < now - timedelta(hours=2)]
        tenant_ids[spec.slug], member_ids[spec.slug] = _write_branch(app, spec, plan)

    # zone activities: hours for some branches' members (the tie branches alike)
    alpha, delta = member_ids["soft-alpha"], member_ids["make-delta"]
    absent, gamma = member_ids["make-absent"], member_ids["soft-gamma"]
    ties = {slug: member_ids[slug] for slug in ("bio-tie-1", "bio-tie-2", "bio-tie-3")}
    first = {
        ("soft-alpha", alpha[0]): "present",
        ("soft-alpha", alpha[1]): "late",
        ("soft-alpha", alpha[2]): "absent",
        ("make-delta", delta[0]): "present",
        ("make-delta", delta[1]): None,
        ("make-absent", absent[0]): "absent",
    }
    first.update({(slug, ids[0]): "present" for slug, ids in ties.items()})
    _zone_activity(issuer, client, datetime(year - 1, 5, 4, 9, 0, tzinfo=CST), "12", first)
    # 15:30 UTC on 31 December: still the previous year
    second = {
        ("soft-alpha", alpha[1]): "present",
        ("soft-gamma", gamma[0]): "late",
        ("soft-gamma", gamma[1]): "excused",
    }
    _zone_activity(issuer, client, datetime(year - 1, 12, 31, 23, 30, tzinfo=CST), "6", second)
    # 23:00 UTC on 31 December of the previous year: the current year in the zone's calendar
    new_year = datetime(year, 1, 1, 7, 0, tzinfo=CST)
    if new_year < now - timedelta(hours=2):
        third = {("soft-alpha", alpha[-1]): "present", ("make-delta", delta[2]): "late"}
        _zone_activity(issuer, client, new_year, "20", third)

    with app.app_context():
        session = _session(Context.system())
        for spec in SPECS:
            if spec.status != TenantStatus.ACTIVE:
                provisioning.set_status(session, slug=spec.slug, status=spec.status)
        session.commit()
        session.close()
    return tenant_ids


# --- the raw rows, read with plain SQL -----------------------------------------------------------


@dataclass
class Raw:
    tenants: dict[uuid.UUID, dict[str, str]]
    members: dict[uuid.UUID, dict[uuid.UUID, tuple[str, str | None]]]  # tenant → id → (cat, st)
    activities: dict[uuid.UUID, dict[uuid.UUID, tuple[str, str, datetime, Decimal]]]
    attendance: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]]  # tenant, activity, member
    zone_activities: dict[uuid.UUID, tuple[str, datetime, Decimal]]
    registrations: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]]
    targets: dict[tuple[int, str], Decimal]
    schedule: list[tuple[str, str, int]]
    weights: dict[str, Decimal]
    rollup_periods: dict[uuid.UUID, set[str]]  # only to show which branches have rows


def _id(value: Any) -> uuid.UUID:
    return uuid.UUID(str(value))  # SQLite keeps 32 hex digits, PostgreSQL a uuid


def _local(value: Any) -> datetime:
    """A stored instant in the zone's time (SQLite returns naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CST)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def read_raw(url: str) -> Raw:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            q = lambda sql: list(c.execute(text(sql)))  # noqa: E731
            members: dict = defaultdict(dict)
            for tenant_id, member_id, category, status in q(
                "SELECT tenant_id, id, category, party_status FROM members"
            ):
                members[_id(tenant_id)][_id(member_id)] = (category, status)
            acts: dict = defaultdict(dict)
            for tenant_id, activity_id, kind, status, starts, hours in q(
                "SELECT tenant_id, id, kind, status, starts_at, study_hours FROM activities"
            ):
                row = (kind, status, _local(starts), _decimal(hours))
                acts[_id(tenant_id)][_id(activity_id)] = row
            periods: dict = defaultdict(set)
            for tenant_id, period in q("SELECT tenant_id, period FROM branch_rollups"):
                periods[_id(tenant_id)].add(period)
            return Raw(
                tenants={
                    _id(r[0]): {
                        "slug": r[1],
                        "name": r[2],
                        "industry": r[3],
                        "enterprise_type": r[4],
                        "status": r[5],
                    }
                    for r in q(
                        "SELECT id, slug, name, industry, enterprise_type, status FROM tenants"
                    )
                },
                members=members,
                activities=acts,
                attendance=[
                    (_id(t), _id(a), _id(m), s)
                    for t, a, m, s in q(
                        "SELECT tenant_id, activity_id, member_id, status FROM attendance"
                    )
                ],
                zone_activities={
                    _id(i): (s, _local(starts), _decimal(h))
                    for i, s, starts, h in q(
                        "SELECT id, status, starts_at, study_hours FROM zone_activities"
                    )
                },
                registrations=[
                    (_id(t), _id(z), _id(m), a)
                    for t, z, m, a in q(
                        "SELECT tenant_id, zone_activity_id, member_id, attendance "
                        "FROM zone_registrations"
                    )
                ],
                targets={
                    (int(y), c): _decimal(h)
                    for y, c, h in q("SELECT year, category, hours FROM training_targets")
                },
                schedule=[
                    (k, f, int(t))
                    for k, f, t in q("SELECT kind, frequency, times FROM meeting_requirements")
                ],
                weights={
                    i: _decimal(w) for i, w in q("SELECT indicator, weight FROM ranking_weights")
                },
                rollup_periods=periods,
            )
    finally:
        engine.dispose()


# --- the expected ranking, in plain Python -------------------------------------------------------


def _half_up(value: Fraction, places: int) -> float:
    """`value` (not negative) rounded half up to `places` decimals, as the JSON float."""
    scale = 10**places
    return float(Fraction(math.floor(value * scale + Fraction(1, 2)), scale))


def branch_ratios(
    raw: Raw, tenant_id: uuid.UUID, year: int, month: int | None, now: datetime
) -> dict[str, tuple[int, int]]:
    """The four indicators of one branch in one period, as (numerator, denominator)."""
    held = {
        activity_id: (kind, local, hours)
        for activity_id, (kind, status, local, hours) in raw.activities[tenant_id].items()
        if status == "held"
    }
    inside = {
        activity_id
        for activity_id, (_, local, _) in held.items()
        if local.year == year and (month is None or local.month == month)
    }

    due = done = 0
    for kind, frequency, times in raw.schedule or DEFAULT_SCHEDULE:
        span = {"monthly": 1, "quarterly": 3, "yearly": 12}[frequency]
        for first in range(1, 13, span):
            last = first + span - 1
            if month is None:
                counts = (year, first) <= (now.year, now.month)  # the sub-period has begun
            else:
                counts = month == last and (year, last) <= (now.year, now.month)
            if counts:
                n = sum(
                    1
                    for k, local, _ in held.values()
                    if k == kind and local.year == year and first <= local.month <= last
                )
                due += times
                done += min(n, times)

    marks = [s for t, a, _, s in raw.attendance if t == tenant_id and a in inside]

    compliant = with_target = 0
    if month is None:
        hours: Counter = Counter()
        for t, a, member_id, status in raw.attendance:
            if t == tenant_id and status in ATTENDED and a in held and held[a][1].year == year:
                hours[member_id] += held[a][2]
        for t, z, member_id, status in raw.registrations:
            zone_status, local, zone_hours = raw.zone_activities[z]
            counted = status in ATTENDED and zone_status == "held" and local.year == year
            if t == tenant_id and counted:
                hours[member_id] += zone_hours
        for member_id, (category, _) in raw.members[tenant_id].items():
            target = raw.targets.get((year, category), DEFAULT_TARGETS.get(category))
            if target is not None:
                with_target += 1
                compliant += Decimal(hours[member_id]).quantize(Decimal("0.01")) >= target

    party = sum(1 for c, _ in raw.members[tenant_id].values() if c == "party-member")
    return {
        "meetings": (done, due),
        "attendance": (sum(1 for s in marks if s in ATTENDED), len(marks)),
        "training": (compliant, with_target),
        "activity": (len(inside), max(party, 1)),
    }


def expected_ranking(
    raw: Raw,
    period: str,
    now: datetime,
    *,
    industry: str | None = None,
    enterprise_type: str | None = None,
) -> list[dict[str, Any]]:
    """The ranking of `period` by the docstring's rules, in the API's shape."""
    year, month = int(period[:4]), int(period[5:]) if len(period) > 4 else None
    compared = {
        tenant_id: tenant
        for tenant_id, tenant in raw.tenants.items()
        if tenant["status"] == "active"
        and industry in (None, tenant["industry"])
        and enterprise_type in (None, tenant["enterprise_type"])
    }
    ratios = {t: branch_ratios(raw, t, year, month, now) for t in compared}
    best = max((Fraction(*r["activity"]) for r in ratios.values()), default=Fraction(0))
    weights = {i: Fraction(raw.weights.get(i, Decimal(1))) for i in INDICATORS}
    rows = []
    for tenant_id, tenant in compared.items():
        indicators, weighted, weight_sum = {}, Fraction(0), Fraction(0)
        for indicator, (numerator, denominator) in ratios[tenant_id].items():
            value = score = None
            if denominator:
                value = Fraction(numerator, denominator)
                if indicator != "activity":
                    score = value * 100
                else:
                    score = value / best * 100 if best else Fraction(0)
                weighted += weights[indicator] * score
                weight_sum += weights[indicator]
            indicators[indicator] = {
                "raw": None if value is None else _half_up(value, 4),
                "numerator": numerator,
                "denominator": denominator,
                "score": None if score is None else _half_up(score, 2),
                "weight": float(weights[indicator]),
                "applicable": value is not None,
            }
        total = _half_up(weighted / weight_sum, 2) if weight_sum else None
        rows.append(
            {
                "rank": None,
                "slug": tenant["slug"],
                "name": tenant["name"],
                "industry": tenant["industry"],
                "enterprise_type": tenant["enterprise_type"],
                "total": total,
                "indicators": indicators,
            }
        )
    ranked = sorted(
        (r for r in rows if r["total"] is not None),
        key=lambda r: (-r["total"], r["name"], r["slug"]),
    )
    for position, row in enumerate(ranked, start=1):
        before = ranked[position - 2] if position > 1 else None
        row["rank"] = before["rank"] if before and before["total"] == row["total"] else position
    unranked = sorted((r for r in rows if r["total"] is None), key=lambda r: (r["name"], r["slug"]))
    return ranked + unranked


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zone(app, app_env, issuer) -> Iterator[Zone]:
    """The generated zone, fully recomputed, and its raw rows."""
    started = datetime.now(CST)
    year = started.year
    tenant_ids = _generate(app, issuer, year, started)
    for _ in range(3):  # the months counted as due must be those of one clock reading
        before = datetime.now(CST)
        with app.app_context():
            report = recompute_tenants()
        now = datetime.now(CST)
        if (before.year, before.month) == (now.year, now.month):
            break
    if now.year != year:
        pytest.skip("the year turned while the zone was generated")
    raw = read_raw(app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"])
    yield Zone(year, now, tenant_ids, report, raw)


def _periods(year: int) -> list[str]:
    return [str(year), *(f"{year}-{m:02d}" for m in range(1, 13))]


def _ranking(caller: Caller, period: str, **query) -> dict[str, Any]:
    return _ok(caller.get(RANKINGS, query_string={"period": period, **query}))


def _shown(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "computed_at"} for row in body["branches"]]


def _by_slug(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["slug"]: row for row in rows}


# --- tests ---------------------------------------------------------------------------------------


def test_the_generated_zone_holds_the_cases_the_comparison_needs(zone):
    raw = zone.raw
    by_slug = {t["slug"]: t_id for t_id, t in raw.tenants.items()}
    assert set(zone.tenant_ids) == {s.slug for s in SPECS} <= set(by_slug)
    assert zone.report.failed == {}
    assert zone.report.branches == sum(1 for s in SPECS if s.status != TenantStatus.SUSPENDED)
    statuses = Counter(a[1] for acts in raw.activities.values() for a in acts.values())
    assert set(statuses) == {"held", "planned", "cancelled"}
    assert {s for *_, s in raw.attendance} == {"present", "late", "excused", "absent"}
    people = Counter(m for ms in raw.members.values() for m in ms.values())
    assert {c for c, _ in people} == {"party-member", "league-member", "worker", "other"}
    assert {s for c, s in people if c == "party-member"} == {"full", "probationary"}
    previous = zone.year - 1
    held_kinds = {
        a[0]
        for acts in raw.activities.values()
        for a in acts.values()
        if a[1] == "held" and a[2].year == previous
    }
    assert {k for k, _, _ in DEFAULT_SCHEDULE} <= held_kinds
    assert len({t["industry"] for t in raw.tenants.values()}) >= 4
    assert len({t["enterprise_type"] for t in raw.tenants.values()}) == 4
    assert raw.schedule == []  # the defaults are in force
    assert raw.weights == {k: Decimal(v) for k, v in WEIGHTS.items()}
    assert raw.targets == {(previous, "party-member"): 10, (previous, "league-member"): 3.5}
    assert raw.activities.get(by_slug["make-empty"], {}) == {}
    absent = by_slug["make-absent"]
    assert {s for t, _, _, s in raw.attendance if t == absent} == {"absent"}
    assert not any(c == "party-member" for c, _ in raw.members[by_slug["logi-workers"]].values())
    credited = [r for r in raw.registrations if r[3] in ATTENDED]
    assert credited and all(raw.zone_activities[r[1]][0] == "held" for r in credited)
    # the branches that must not be ranked have figures: they are left out for their status
    for slug, status in (("soft-closed", "suspended"), ("soft-old", "archived")):
        assert raw.tenants[by_slug[slug]]["status"] == status
        assert str(previous) in raw.rollup_periods[by_slug[slug]]


@pytest.mark.parametrize("month", [None, *range(1, 13)], ids=lambda m: f"month-{m or 'all'}")
@pytest.mark.parametrize("years_back", [1, 0], ids=["previous-year", "current-year"])
def test_the_ranking_equals_an_independent_computation_from_the_raw_rows(
    zone, zone_viewer, years_back, month
):
    year = zone.year - years_back
    period = f"{year}-{month:02d}" if month else str(year)
    body = _ranking(zone_viewer, period)
    expected = expected_ranking(zone.raw, period, zone.now)
    assert body["period"] == period
    assert body["weights"] == {k: float(v) for k, v in WEIGHTS.items()}
    assert body["without_figures"] == 0
    assert body["ranked"] == sum(1 for row in expected if row["rank"] is not None)
    assert [r["slug"] for r in body["branches"]] == [r["slug"] for r in expected]
    got = _by_slug(_shown(body))
    for row in expected:
        assert got[row["slug"]] == row, (period, row["slug"])


def test_the_previous_year_ranks_ties_together_and_leaves_out_closed_branches(zone, zone_viewer):
    period = str(zone.year - 1)
    rows = _shown(_ranking(zone_viewer, period))
    slugs = [r["slug"] for r in rows]
    assert "soft-closed" not in slugs and "soft-old" not in slugs
    assert len(rows) == sum(1 for s in SPECS if s.status == TenantStatus.ACTIVE)
    # the identical branches: one total, one rank, by name (东 before 联) then slug
    start = slugs.index("bio-tie-3")
    tied = rows[start : start + 3]
    assert [r["slug"] for r in tied] == ["bio-tie-3", "bio-tie-1", "bio-tie-2"]
    assert len({r["total"] for r in tied}) == 1 and len({r["rank"] for r in tied}) == 1
    assert tied[0]["rank"] == start + 1
    if start + 3 < len(rows):
        assert rows[start + 3]["rank"] == start + 4
    by_slug = _by_slug(rows)
    # the busiest ranked branch sets the activity scale (the closed ones would beat it)
    assert by_slug["logi-workers"]["indicators"]["activity"]["score"] == 100.0
    assert by_slug["logi-workers"]["indicators"]["training"]["applicable"] is False
    assert by_slug["logi-workers"]["indicators"]["activity"]["denominator"] == 1
    absent = by_slug["make-absent"]["indicators"]["attendance"]
    assert absent["applicable"] is True and absent["raw"] == 0.0 and absent["score"] == 0.0
    assert absent["denominator"] > 0
    empty = by_slug["make-empty"]["indicators"]
    assert empty["attendance"]["applicable"] is False and empty["attendance"]["score"] is None
    assert empty["meetings"] == {
        "raw": 0.0,
        "numerator": 0,
        "denominator": 20,
        "score": 0.0,
        "weight": 3.0,
        "applicable": True,
    }
    assert empty["activity"]["score"] == 0.0


@pytest.mark.parametrize(
    "query",
    [
        {"industry": "软件"},
        {"enterprise_type": "private"},
        {"industry": "制造", "enterprise_type": "private"},
    ],
    ids=["industry", "enterprise-type", "both"],
)
def test_a_filter_ranks_the_narrowed_set_and_rescores_activity_against_its_best(
    zone, zone_viewer, query
):
    period = str(zone.year - 1)
    everyone = _by_slug(_shown(_ranking(zone_viewer, period)))
    body = _ranking(zone_viewer, period, **query)
    expected = expected_ranking(zone.raw, period, zone.now, **query)
    assert [r["slug"] for r in body["branches"]] == [r["slug"] for r in expected]
    assert body["without_figures"] == 0
    got = _by_slug(_shown(body))
    for row in expected:
        assert got[row["slug"]] == row, (query, row["slug"])
    # the zone's busiest branch is outside every filtered set: the set's own best scores 100
    assert "logi-workers" not in got
    activity = {slug: row["indicators"]["activity"] for slug, row in got.items()}
    assert max(a["score"] for a in activity.values()) == 100.0
    before = {slug: everyone[slug]["indicators"]["activity"] for slug in activity}
    rescored = [s for s, a in activity.items() if a["score"] != before[s]["score"]]
    assert rescored
    for slug, figure in activity.items():
        assert figure["raw"] == before[slug]["raw"]
