"""The set-based zone recompute (`recompute_tenants`), on a zone from the synthetic generator
(`service.zone_generator`, size `small`: 20 branches, 2,000 members, a year of activities and
attendance) with the zone's own schedule, training targets and a held zone activity:

* it writes exactly what a recompute of each branch on its own (in the branch's context)
  writes: every branch, every period, every figure — whether the zone's queries name the
  branches or scan every branch's records;
* both equal a plain-Python computation over the raw rows, read with plain SQL;
* a branch whose write fails, or whose figures cannot be made, keeps its previous rows while
  the others' are written, and the failure is reported by slug.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from service import zone_generator
from service.activities.models import (
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    TrainingTarget,
    ZoneActivity,
    ZoneRegistration,
)
from service.audit.recorder import set_actor
from service.database import db
from service.members.models import Category, Member
from service.rollups import compute, jobs
from service.rollups.compute import periods_for
from service.rollups.models import Frequency, MeetingRequirement
from tenants.context import Context
from tenants.isolation import bind_context
from tests.rollups.helpers import figures, recompute, rows
from tests.rollups.test_rankings_from_records import (
    ATTENDED,
    CST,
    DEFAULT_SCHEDULE,
    DEFAULT_TARGETS,
    Raw,
    read_raw,
)

SEED = 7
PREFIX = "zr"
# every frequency, a kind the generator holds at random (theme days), and times above 1
SCHEDULE = [
    (ActivityKind.COMMITTEE_MEETING, Frequency.MONTHLY, 1),
    (ActivityKind.GENERAL_MEETING, Frequency.QUARTERLY, 1),
    (ActivityKind.THEME_DAY, Frequency.QUARTERLY, 2),
    (ActivityKind.PARTY_LECTURE, Frequency.YEARLY, 3),
]


@dataclass
class Zone:
    slugs: dict[uuid.UUID, str]  # the generated branches


@pytest.fixture(scope="module")
def zone(app) -> Zone:
    """The generated zone, with the zone's schedule, targets of its own for both years (one of
    them with hundredths) and a held zone activity a few members of every branch attended."""
    now = datetime.now(CST)
    with app.app_context():
        session = db.new_session()
        set_actor(session, {"iss": None, "sub": "test:zone-recompute", "name": None})
        load = zone_generator.load_zone(
            session, size=zone_generator.SIZES["small"], seed=SEED, slug_prefix=PREFIX
        )
        bind_context(session, Context.system())
        session.add_all(MeetingRequirement(kind=k, frequency=f, times=t) for k, f, t in SCHEDULE)
        session.add_all(
            [
                TrainingTarget(year=now.year, category=Category.PARTY_MEMBER, hours=Decimal(12)),
                TrainingTarget(
                    year=now.year, category=Category.LEAGUE_MEMBER, hours=Decimal("6.25")
                ),
                TrainingTarget(year=now.year - 1, category=Category.WORKER, hours=Decimal(0)),
            ]
        )
        starts = now - timedelta(days=3)
        lecture = ZoneActivity(
            kind=ActivityKind.EXPERT_LECTURE,
            title="专家讲座",
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            status=ActivityStatus.HELD,
            study_hours=Decimal("6.25"),
        )
        session.add(lecture)
        session.flush()
        from tenants.registry import Tenant

        slugs = dict(
            session.execute(select(Tenant.id, Tenant.slug).where(Tenant.slug.in_(load.slugs))).all()
        )
        marks = [AttendanceStatus.PRESENT, AttendanceStatus.LATE, AttendanceStatus.ABSENT, None]
        for tenant_id in slugs:
            bind_context(session, Context.tenant(tenant_id))
            people = session.scalars(select(Member.id).order_by(Member.id).limit(8))
            session.add_all(
                ZoneRegistration(
                    tenant_id=tenant_id,
                    zone_activity_id=lecture.id,
                    member_id=member_id,
                    attendance=marks[index % len(marks)],
                )
                for index, member_id in enumerate(people)
            )
            session.flush()  # in this branch's context, before the next one's
        session.commit()
        session.close()
    assert len(slugs) == 20
    return Zone(slugs)


def _recompute_zone(app) -> tuple[jobs.ZoneReport, datetime]:
    """A zone recompute, and the clock it ran by (repeated if a month ended meanwhile, so the
    months due are those of one reading)."""
    for _ in range(3):
        before = datetime.now(CST)
        with app.app_context():
            report = jobs.recompute_tenants()
        after = datetime.now(CST)
        if (before.year, before.month) == (after.year, after.month):
            break
    return report, after


def _all(app, zone: Zone) -> dict[uuid.UUID, dict[str, dict]]:
    return {tenant_id: rows(app, tenant_id) for tenant_id in zone.slugs}


def _without_stamp(found: dict[uuid.UUID, dict[str, dict]]) -> dict[uuid.UUID, dict[str, dict]]:
    return {
        t: {p: {k: v for k, v in r.items() if k != "computed_at"} for p, r in by.items()}
        for t, by in found.items()
    }


@pytest.mark.parametrize("listed_limit", [100, 5], ids=["branches-named", "every-branch-scanned"])
def test_the_zone_recompute_writes_what_each_branch_recompute_writes(
    app, zone, monkeypatch, listed_limit
):
    monkeypatch.setattr(compute, "LISTED_LIMIT", listed_limit)
    report, now = _recompute_zone(app)
    assert report.failed == {}
    assert report.branches == len(zone.slugs)
    assert report.rows == 26 * len(zone.slugs)
    by_zone = _all(app, zone)
    for tenant_id in zone.slugs:
        recompute(app, tenant_id, now=now)
    by_branch = _all(app, zone)
    assert _without_stamp(by_branch) == _without_stamp(by_zone)
    for tenant_id, found in by_zone.items():
        assert set(found) == set(periods_for(now))
        # each branch's own recompute replaced the zone's rows: it read later
        assert all(
            by_branch[tenant_id][p]["computed_at"] > r["computed_at"] for p, r in found.items()
        )
    # the generated zone exercises every figure
    year = str(now.year)
    shown = [f for by in by_zone.values() for f in (by[year], by[str(now.year - 1)])]
    for figure in ("party_probationary", "league_members", "workers", "others",
                   "activities_held", "meetings_held", "attendance_present",
                   "training_with_target", "training_compliant"):  # fmt: skip
        assert any(f[figure] for f in shown), figure
    assert any(f["training_compliant"] < f["training_with_target"] for f in shown)


# --- plain Python over the raw rows --------------------------------------------------------------


def _expected(raw: Raw, tenant_id: uuid.UUID, now: datetime) -> dict[str, dict[str, Any]]:
    """Every figure of every period of the branch, by the rules of `service.rollups.compute`'s
    docstring, from the raw rows only."""
    members = raw.members[tenant_id]
    categories = Counter(c for c, _ in members.values())
    statuses = Counter(s for c, s in members.values() if c == "party-member")
    held = {a: v for a, v in raw.activities[tenant_id].items() if v[1] == "held"}
    marks = [(a, m, s) for t, a, m, s in raw.attendance if t == tenant_id and a in held]
    schedule = raw.schedule or DEFAULT_SCHEDULE
    out = {}
    for period in periods_for(now):
        year, month = int(period[:4]), (int(period[5:]) if len(period) > 4 else None)
        inside = {
            a
            for a, (_, _, local, _) in held.items()
            if local.year == year and (month is None or local.month == month)
        }
        detail = {}
        for kind, frequency, times in schedule:
            span = {"monthly": 1, "quarterly": 3, "yearly": 12}[frequency]
            due = done = 0
            for first in range(1, 13, span):
                last = first + span - 1
                if month is None:
                    counts = (year, first) <= (now.year, now.month)
                else:
                    counts = month == last and (year, last) <= (now.year, now.month)
                if counts:
                    n = sum(
                        1
                        for k, _, local, _ in held.values()
                        if k == kind and local.year == year and first <= local.month <= last
                    )
                    due += times
                    done += min(n, times)
            detail[kind] = {"held": done, "due": due}
        with_target = compliant = 0
        if month is None:
            hours: Counter = Counter()
            for a, member_id, status in marks:
                if status in ATTENDED and held[a][2].year == year:
                    hours[member_id] += held[a][3]
            for t, z, member_id, status in raw.registrations:
                zone_status, local, zone_hours = raw.zone_activities[z]
                counted = status in ATTENDED and zone_status == "held" and local.year == year
                if t == tenant_id and counted:
                    hours[member_id] += zone_hours
            for member_id, (category, _) in members.items():
                target = raw.targets.get((year, category), DEFAULT_TARGETS.get(category))
                if target is not None:
                    with_target += 1
                    compliant += Decimal(hours[member_id]) >= target
        records = [s for a, _, s in marks if a in inside]
        out[period] = {
            "members_total": len(members),
            "party_members": categories["party-member"],
            "party_full": statuses["full"],
            "party_probationary": statuses["probationary"],
            "league_members": categories["league-member"],
            "workers": categories["worker"],
            "others": categories["other"],
            "activities_held": len(inside),
            "activities_by_kind": dict(sorted(Counter(held[a][0] for a in inside).items())),
            "meetings_due": sum(d["due"] for d in detail.values()),
            "meetings_held": sum(d["held"] for d in detail.values()),
            "meetings_detail": detail,
            "attendance_records": len(records),
            "attendance_present": sum(1 for s in records if s in ATTENDED),
            "training_with_target": with_target,
            "training_compliant": compliant,
        }
    return out


def test_the_zone_figures_equal_plain_python_over_the_raw_rows(app, app_env, zone):
    report, now = _recompute_zone(app)
    assert report.failed == {}
    raw = read_raw(app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"])
    for tenant_id, slug in zone.slugs.items():
        want = _expected(raw, tenant_id, now)
        got = figures(app, tenant_id)
        assert set(got) == set(want)
        for period in want:
            assert got[period] == want[period], (slug, period)


# --- failures ------------------------------------------------------------------------------------


@pytest.fixture
def recomputed(app, zone) -> Iterator[dict[uuid.UUID, dict[str, dict]]]:
    report, _ = _recompute_zone(app)
    assert report.failed == {}
    yield _all(app, zone)


def _check_isolated_failure(app, zone, before, report, victim: uuid.UUID, error: str) -> None:
    assert set(report.failed) == {zone.slugs[victim]}
    assert error in report.failed[zone.slugs[victim]]
    assert report.branches == len(zone.slugs) - 1
    after = _all(app, zone)
    assert after[victim] == before[victim]  # untouched, computed_at included
    for tenant_id in zone.slugs.keys() - {victim}:
        assert all(after[tenant_id][p]["computed_at"] > r["computed_at"]
                   for p, r in before[tenant_id].items())  # fmt: skip
    assert _without_stamp(after) == _without_stamp(before)  # the records did not change


def test_a_branch_whose_write_fails_keeps_its_rows_and_the_others_are_written(
    app, zone, recomputed, monkeypatch
):
    victim = sorted(zone.slugs, key=zone.slugs.get)[7]
    upsert_rows = jobs.upsert_rows

    def failing(session, *, tenant_id, figures, computed_at):
        written = upsert_rows(
            session, tenant_id=tenant_id, figures=figures, computed_at=computed_at
        )
        if tenant_id == victim:
            # a database error after the branch's rows went in: on PostgreSQL it aborts the
            # whole transaction, so the others' rows survive only through the savepoints
            session.connection().execute(text("SELECT no_such_column FROM branch_rollups"))
        return written

    monkeypatch.setattr(jobs, "upsert_rows", failing)
    with app.app_context():
        report = jobs.recompute_tenants()
    _check_isolated_failure(app, zone, recomputed, report, victim, "no_such_column")


def test_a_branch_whose_figures_cannot_be_made_keeps_its_rows(app, zone, recomputed, monkeypatch):
    # the branches are computed in the order of their slugs: the generated ones are all there is
    # in this module's database
    order = sorted(zone.slugs, key=zone.slugs.get)
    victim = order[3]
    branch_figures = compute._branch_figures
    calls = []

    def failing(*args, **kwargs):
        calls.append(None)
        if len(calls) == order.index(victim) + 1:
            raise ArithmeticError("cannot make these figures")
        return branch_figures(*args, **kwargs)

    monkeypatch.setattr(compute, "_branch_figures", failing)
    with app.app_context():
        report = jobs.recompute_tenants()
    _check_isolated_failure(app, zone, recomputed, report, victim, "cannot make these figures")


def _write(app, tenant_id, writer, figures, computed_at) -> None:
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant_id))
        writer(session, tenant_id=tenant_id, figures=figures, computed_at=computed_at)
        session.commit()
        session.close()


@pytest.mark.parametrize("writer", ["write_rows", "upsert_rows"])
def test_a_write_keeps_rows_computed_after_its_figures_were_read(app, zone, writer):
    """Rows are replaced only by figures read later than theirs: a recompute that read before
    another one wrote does not undo the newer figures (the zone's reads take seconds, a
    branch's recompute after a write may land meanwhile). Both writers: the branch's (DELETE
    and INSERT) and the zone's (INSERT … ON CONFLICT DO UPDATE)."""
    write = getattr(compute, writer)
    tenant_id = sorted(zone.slugs, key=zone.slugs.get)[11]
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant_id))
        stale_at = compute.utcnow()
        stale = compute.compute_branch(session, tenant_id=tenant_id, periods=periods_for())
        session.rollback()
        session.close()
    recompute(app, tenant_id)  # another recompute reads and writes in between
    newer = rows(app, tenant_id)
    stale[0] = {**stale[0], "members_total": -1}  # would show if it were written
    _write(app, tenant_id, write, stale, stale_at)
    assert rows(app, tenant_id) == newer
    # the same rows read later replace them, computed_at included
    later = compute.utcnow()
    _write(app, tenant_id, write, stale, later)
    replaced = rows(app, tenant_id)
    assert replaced[stale[0]["period"]]["members_total"] == -1
    assert {r["computed_at"] for r in replaced.values()} == {later}
    recompute(app, tenant_id)
    assert figures(app, tenant_id) == {
        p: {k: v for k, v in r.items() if k != "computed_at"} for p, r in newer.items()
    }


def test_the_zone_context_reads_but_the_writes_are_each_branchs_own(app, zone, monkeypatch):
    """Every write of the zone recompute runs in the context of the branch whose rows it
    writes, never in the zone context its reads ran in."""
    from tenants.isolation import current_context

    seen = []
    upsert_rows = jobs.upsert_rows

    def watched(session, *, tenant_id, figures, computed_at):
        seen.append((current_context(session), tenant_id))
        return upsert_rows(session, tenant_id=tenant_id, figures=figures, computed_at=computed_at)

    monkeypatch.setattr(jobs, "upsert_rows", watched)
    report, _ = _recompute_zone(app)
    assert report.failed == {}
    assert {t for _, t in seen} == set(zone.slugs)
    assert all(context == Context.tenant(t) for context, t in seen)
