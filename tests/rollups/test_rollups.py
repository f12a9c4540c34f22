"""The branch rollup against an independent computation over the rows the test itself wrote;
idempotence; the outbox → job → rollup path in-process; `pmsc rollups recompute`; the meeting
schedule API; a failing job leaving the previous figures intact."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from service.rollups.compute import periods_for, recompute_branch
from tests.api.helpers import assert_error
from tests.api.test_training import Branch, zone_activity_attended
from tests.conftest import branch_admin_of
from tests.rollups.helpers import figures, recompute, rows
from workers import jobs

CST = timezone(timedelta(hours=8))
SCHEDULE = "/api/v1/zone/meeting-schedule"
NOW = datetime(2026, 8, 15, 12, 0, tzinfo=CST)  # Q3 current, September not begun
TEST_SCHEDULE = [
    {"kind": "committee-meeting", "frequency": "monthly", "times": 1},
    {"kind": "general-meeting", "frequency": "quarterly", "times": 2},
    {"kind": "party-lecture", "frequency": "yearly", "times": 3},
]
KINDS = ["committee-meeting", "general-meeting", "party-lecture", "training", "theme-day"]
PEOPLE = [
    ("party-member", "full"),
    ("party-member", "full"),
    ("party-member", "probationary"),
    ("league-member", None),
    ("worker", None),
    ("other", None),
]


@pytest.fixture
def schedule(zone_admin):
    put = zone_admin.put(SCHEDULE, json=TEST_SCHEDULE)
    assert put.status_code == 200, put.json
    yield
    assert zone_admin.put(SCHEDULE, json=[]).status_code == 200  # back to the defaults


def _member(index: int, category: str, status: str | None) -> dict:
    body = {"name": f"人{index}", "gender": "male", "category": category}
    if status:
        body["party_status"] = status
    return body


def _branch(make_branch, as_groups, rng) -> tuple[object, Branch, list[tuple[str, str]]]:
    tenant = make_branch()
    admin = branch_admin_of(as_groups, tenant)
    ids, people = {}, []
    for i in range(rng.randint(3, 8)):
        category, status = PEOPLE[rng.randrange(len(PEOPLE))]
        made = admin.post(f"/api/v1/t/{tenant.slug}/members", json=_member(i, category, status))
        assert made.status_code == 201, made.json
        ids[made.json["name"]] = made.json["id"]
        people.append((made.json["name"], category, status))
    return tenant, Branch(tenant.slug, admin, ids), people


def _expected(people, activities, zone_hours, targets, now) -> dict[str, dict]:
    """Plain Python over what the test wrote."""
    roster = Counter(c for _, c, _ in people)
    status = Counter(s for _, c, s in people if c == "party-member")
    kinds = {r["kind"]: (r["frequency"], r["times"]) for r in TEST_SCHEDULE}
    out = {}
    for period in periods_for(now):
        year, month = int(period[:4]), int(period[5:]) if len(period) > 4 else None
        months = [month] if month else list(range(1, 13))
        held = [a for a in activities if a["status"] == "held" and a["local"].year == year]
        inside = [a for a in held if a["local"].month in months]
        by_kind = Counter(a["kind"] for a in inside)
        marks = [s for a in inside for s in a["attendance"].values()]
        detail = {}
        for kind, (frequency, times) in kinds.items():
            size = {"monthly": 1, "quarterly": 3, "yearly": 12}[frequency]
            due = done = 0
            for first in range(1, 13, size):
                last = first + size - 1
                begun = (year, first) <= (now.year, now.month)
                if month is None and not begun:
                    continue
                if month is not None and (month != last or (year, last) > (now.year, now.month)):
                    continue
                n = sum(1 for a in held if a["kind"] == kind and first <= a["local"].month <= last)
                due += times
                done += min(n, times)
            detail[kind] = {"held": done, "due": due}
        with_target = compliant = 0
        if month is None:
            for name, category, _ in people:
                target = targets[year].get(category)
                if target is None:
                    continue
                with_target += 1
                hours = sum(
                    Decimal(str(a["hours"]))
                    for a in held
                    if a["attendance"].get(name) in ("present", "late")
                ) + zone_hours.get((year, name), Decimal(0))
                compliant += hours >= target
        out[period] = {
            "members_total": len(people),
            "party_members": roster["party-member"],
            "party_full": status["full"],
            "party_probationary": status["probationary"],
            "league_members": roster["league-member"],
            "workers": roster["worker"],
            "others": roster["other"],
            "activities_held": len(inside),
            "activities_by_kind": dict(sorted(by_kind.items())),
            "meetings_due": sum(d["due"] for d in detail.values()),
            "meetings_held": sum(d["held"] for d in detail.values()),
            "meetings_detail": detail,
            "attendance_records": len(marks),
            "attendance_present": sum(1 for s in marks if s in ("present", "late")),
            "training_with_target": with_target,
            "training_compliant": compliant,
        }
    return out


def test_figures_match_an_independent_computation_on_a_generated_zone(
    app, make_branch, as_groups, zone_admin, schedule
):
    rng = random.Random(20260815)
    targets = {}
    for year in (2025, 2026):
        got = zone_admin.get("/api/v1/zone/training-targets", query_string={"year": year}).json
        targets[year] = {t["category"]: t["hours"] and Decimal(str(t["hours"])) for t in got}
    for _ in range(3):
        tenant, branch, people = _branch(make_branch, as_groups, rng)
        activities = []
        for _ in range(rng.randint(15, 30)):
            # local times, some in the hours where the UTC date is the day before
            local = datetime(
                rng.choice([2025, 2026]), rng.randint(1, 10), rng.choice([1, 15, 28]),
                rng.choice([0, 3, 7, 9, 23]), 30, tzinfo=CST,
            )  # fmt: skip
            if rng.random() < 0.1:
                local = datetime(2025, 12, 31, 23, 30, tzinfo=CST)  # 15:30 UTC, still 2025
            if rng.random() < 0.05:
                local = datetime(2026, 1, 1, 7, 0, tzinfo=CST)  # 23:00 UTC of 31 December
            state = rng.choices(["held", "planned", "cancelled"], [6, 1, 1])[0]
            hours = rng.choice([0, 1.5, 4, 8, 12])
            marks = {}
            if state == "held":
                for name in rng.sample(list(branch.ids), rng.randint(0, len(branch.ids))):
                    marks[name] = rng.choice(["present", "late", "excused", "absent"])
            branch.held(
                local.isoformat(), hours, marks, kind=rng.choice(KINDS), status=state,
                training_topic=None,
            )  # fmt: skip
            activities.append(
                {"local": local, "kind": None, "status": state, "hours": hours, "attendance": marks}
            )
        # the kind was chosen inside the call: read it back from the API in creation order
        listed = branch.admin.get(branch.url("/activities?page_size=100")).json
        by_start = sorted(listed, key=lambda a: (a["created_at"], a["id"]))
        for record, row in zip(activities, by_start, strict=True):
            record["kind"] = row["kind"]
        zone_hours: dict[tuple[int, str], Decimal] = {}
        party = [n for n, c, _ in people if c == "party-member"]
        if party:
            who = {n: rng.choice(["present", "late", "absent"]) for n in party}
            zone_activity_attended(zone_admin, branch, "2026-02-10T09:00:00+08:00", 20, who)
            for name, mark in who.items():
                if mark != "absent":
                    zone_hours[(2026, name)] = Decimal(20)

        recompute(app, tenant.id, now=NOW)
        got = figures(app, tenant.id)
        want = _expected(people, activities, zone_hours, targets, NOW)
        assert set(got) == set(want) == set(periods_for(NOW))
        for period in want:
            assert got[period] == want[period], period


def test_recomputing_twice_gives_the_same_rows(app, make_branch, as_groups):
    tenant, branch, _ = _branch(make_branch, as_groups, random.Random(7))
    names = list(branch.ids)
    branch.held("2025-05-05T10:00:00+08:00", 2, {names[0]: "present"}, kind="party-lecture")
    recompute(app, tenant.id, now=NOW)
    first = rows(app, tenant.id)
    recompute(app, tenant.id, now=NOW)
    second = rows(app, tenant.id)
    assert len(first) == 26
    assert {p: {**r, "computed_at": None} for p, r in first.items()} == {
        p: {**r, "computed_at": None} for p, r in second.items()
    }
    assert all(second[p]["computed_at"] >= first[p]["computed_at"] for p in first)


def test_an_attendance_write_updates_the_rollup_right_after_the_request(
    app, make_branch, as_groups
):
    tenant, branch, _ = _branch(make_branch, as_groups, random.Random(3))
    started = datetime.now(UTC) - timedelta(hours=1)
    made = branch.held(started.isoformat(), 1, {})
    year = str(started.astimezone(CST).year)
    assert rows(app, tenant.id)[year]["attendance_records"] == 0  # the create's recompute
    batch = [{"member_id": i, "status": "present"} for i in branch.ids.values()]
    put = branch.admin.put(branch.url(f"/activities/{made['id']}/attendance"), json=batch)
    assert put.status_code == 200, put.json
    after = rows(app, tenant.id)[year]
    assert after["attendance_records"] == after["attendance_present"] == len(batch)


def test_the_console_script_recomputes_a_branch(backend, app, app_env, make_branch):
    if backend != "sqlite":
        pytest.skip("the console script is exercised on SQLite")
    tenant = make_branch()
    script = Path(sys.executable).with_name("pmsc")
    done = subprocess.run(
        [str(script), "rollups", "recompute", "--tenant", tenant.slug],
        env={**os.environ, **app_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "recomputed 1 branch(es), 26 row(s)" in done.stdout
    assert len(rows(app, tenant.id)) == 26
    unknown = subprocess.run(
        [str(script), "rollups", "recompute", "--tenant", "no-such-branch"],
        env={**os.environ, **app_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode != 0 and "no-such-branch" in unknown.stderr


def test_the_meeting_schedule_is_validated_audited_and_changes_meetings_due(
    app, make_branch, as_groups, zone_admin, zone_viewer
):
    default = zone_viewer.get(SCHEDULE)
    assert default.status_code == 200
    assert all(i["is_default"] for i in default.json)
    assert zone_viewer.put(SCHEDULE, json=[]).status_code == 403
    good = {"kind": "committee-meeting", "frequency": "monthly", "times": 2}
    assert_error(zone_admin.put(SCHEDULE, json=[{**good, "times": 0}]), 422)
    assert_error(zone_admin.put(SCHEDULE, json=[{**good, "kind": "tea-party"}]), 422)
    assert_error(zone_admin.put(SCHEDULE, json=[{**good, "frequency": "weekly"}]), 422)
    twice = assert_error(zone_admin.put(SCHEDULE, json=[good, good]), 422)
    assert "kind" in twice["errors"]["json"]["1"]

    tenant, _, _ = _branch(make_branch, as_groups, random.Random(1))
    recompute(app, tenant.id)
    previous = str(datetime.now(CST).year - 1)
    assert rows(app, tenant.id)[previous]["meetings_due"] == 12 + 4 + 4  # the defaults
    try:
        put = zone_admin.put(SCHEDULE, json=[good])
        assert put.status_code == 200, put.json
        assert put.json == [{**good, "is_default": False}]
        # the outbox's rollups.recompute_zone ran in-process after the commit
        after = rows(app, tenant.id)[previous]
        assert after["meetings_due"] == 24
        assert after["meetings_detail"] == {"committee-meeting": {"held": 0, "due": 24}}
        audit = zone_admin.get(
            "/api/v1/zone/audit", query_string={"object_type": "meeting_requirements"}
        )
        assert audit.status_code == 200, audit.json
        assert any(e["object_id"] == "committee-meeting" for e in audit.json)
    finally:
        assert zone_admin.put(SCHEDULE, json=[]).status_code == 200
    assert rows(app, tenant.id)[previous]["meetings_due"] == 20


def test_a_job_failing_midway_leaves_the_previous_figures_intact(app, make_branch, as_groups):
    tenant, branch, _ = _branch(make_branch, as_groups, random.Random(5))
    branch.held("2025-03-03T10:00:00+08:00", 1, {}, kind="committee-meeting")
    recompute(app, tenant.id)
    before = rows(app, tenant.id)

    def recompute_then_fail(session, *, tenant_id):
        # rewrites every row (another year's periods), then fails before the commit
        recompute_branch(session, tenant_id=tenant_id, now=datetime(2031, 1, 1, tzinfo=CST))
        session.flush()
        raise RuntimeError("killed midway")

    name = f"test.rollup-fail.{uuid.uuid4().hex[:8]}"
    jobs.job(name, queue="rollups")(recompute_then_fail)
    try:
        with app.app_context(), pytest.raises(RuntimeError, match="killed midway"):
            jobs.run_job(name, tenant.id)
    finally:
        jobs.unregister(name)
    assert rows(app, tenant.id) == before
    with app.app_context():
        jobs.run_job("rollups.recompute_branch", tenant.id)  # the retry
    assert figures(app, tenant.id) == {
        p: {k: v for k, v in r.items() if k != "computed_at"} for p, r in before.items()
    }
