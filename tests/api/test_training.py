"""Training hours through the API: each member's hours from attendance at the branch's held
activities and at zone activities, in the zone's calendar year (UTC+8); the zone's targets
(default 32 hours for party members, none for others) and the compliance figures, checked
against sums worked out by hand here. Each test uses its own year, since targets are zone-wide."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.helpers import assert_error, worker
from tests.conftest import Caller, branch_admin_of

TARGETS = "/api/v1/zone/training-targets"


def party_member(name: str) -> dict:
    return {"name": name, "gender": "male", "category": "party-member", "party_status": "full"}


@dataclass
class Branch:
    slug: str
    admin: Caller
    ids: dict[str, str]

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.slug}{path}"

    def held(self, starts_at: str, hours: float, attendance: dict[str, str], **fields) -> dict:
        body = {
            "kind": "training",
            "title": "培训",
            "starts_at": starts_at,
            "ends_at": starts_at,
            "status": "held",
            "study_hours": hours,
            **fields,
        }
        made = self.admin.post(self.url("/activities"), json=body)
        assert made.status_code == 201, made.json
        if attendance:
            batch = [
                {"member_id": self.ids[name], "status": status, "reason": "事假"}
                for name, status in attendance.items()
            ]
            put = self.admin.put(self.url(f"/activities/{made.json['id']}/attendance"), json=batch)
            assert put.status_code == 200, put.json
        return made.json

    def summary(self, year: int) -> dict:
        response = self.admin.get(self.url("/training/summary"), query_string={"year": year})
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def branch(make_branch, as_groups) -> Branch:
    tenant = make_branch()
    admin = branch_admin_of(as_groups, tenant)
    ids = {}
    for body in (party_member("甲"), party_member("乙"), worker("丙")):
        made = admin.post(f"/api/v1/t/{tenant.slug}/members", json=body)
        assert made.status_code == 201, made.json
        ids[body["name"]] = made.json["id"]
    return Branch(tenant.slug, admin, ids)


def zone_activity_attended(zone_admin, branch: Branch, starts_at: str, hours: float, who: dict):
    """A held zone activity that `who` (name → attendance) registered for and attended."""
    body = {"kind": "expert-lecture", "title": "专家讲座", "starts_at": starts_at,
            "ends_at": starts_at, "study_hours": hours}  # fmt: skip
    made = zone_admin.post("/api/v1/zone/activities", json=body)
    assert made.status_code == 201, made.json
    registrations = branch.url(f"/zone-activities/{made.json['id']}/registrations")
    ids = {}
    for name in who:
        reg = branch.admin.post(registrations, json={"member_id": branch.ids[name]})
        assert reg.status_code == 201, reg.json
        ids[name] = reg.json["id"]
    held = zone_admin.patch(
        f"/api/v1/zone/activities/{made.json['id']}",
        json={"status": "held"},
        headers={"If-Match": made.headers["ETag"]},
    )
    assert held.status_code == 200, held.json
    for name, attendance in who.items():
        marked = branch.admin.put(f"{registrations}/{ids[name]}", json={"attendance": attendance})
        assert marked.status_code == 200, marked.json


def _by_name(summary: dict) -> dict[str, tuple]:
    return {m["name"]: (m["hours"], m["target"], m["compliant"]) for m in summary["members"]}


def test_hours_come_from_attended_held_activities_and_zone_activities_by_zone_year(
    branch, zone_admin
):
    year = 2023
    branch.held("2023-03-01T09:00:00+08:00", 10.5, {"甲": "present", "乙": "late", "丙": "absent"})
    branch.held("2023-06-01T09:00:00+08:00", 2, {"甲": "excused", "乙": "present"})
    # 23:30 on 31 December in UTC+8 is still 2023; 07:00 on 1 January is 2024 (23:00 UTC)
    branch.held("2023-12-31T23:30:00+08:00", 0.25, {"乙": "present"})
    branch.held("2024-01-01T07:00:00+08:00", 5, {"甲": "present", "乙": "present"})
    branch.held("2022-12-01T09:00:00+08:00", 5, {"甲": "present"})
    cancelled = branch.held("2023-04-01T09:00:00+08:00", 9, {}, status="cancelled")
    assert cancelled["status"] == "cancelled"
    came = {"甲": "present", "丙": "absent"}
    zone_activity_attended(zone_admin, branch, "2023-05-04T14:00:00+08:00", 22, came)

    summary = branch.summary(year)
    # by hand: 甲 10.5 + 22 = 32.5; 乙 10.5 + 2 + 0.25 = 12.75; 丙 0 (absent twice)
    assert _by_name(summary) == {
        "甲": (32.5, 32.0, True),
        "乙": (12.75, 32.0, False),
        "丙": (0.0, None, None),
    }
    assert summary["totals"] == {
        "members": 3,
        "members_with_target": 2,
        "compliant": 1,
        "compliance_rate": 0.5,
    }
    assert summary["year"] == year
    # listed by name, never ranked by hours
    names = [m["name"] for m in summary["members"]]
    assert names == sorted(names)
    assert "rank" not in summary["members"][0]


def test_the_default_targets_apply_until_the_zone_sets_its_own(branch, zone_admin, zone_viewer):
    year = 2021
    defaults = zone_viewer.get(TARGETS, query_string={"year": year})
    assert defaults.status_code == 200
    assert {t["category"]: (t["hours"], t["is_default"]) for t in defaults.json} == {
        "party-member": (32.0, True),
        "league-member": (None, True),
        "worker": (None, True),
        "other": (None, True),
    }
    branch.held("2021-06-01T09:00:00+08:00", 6, {"甲": "present", "丙": "late"})
    body = [{"category": "party-member", "hours": 6}, {"category": "worker", "hours": 5.5}]
    put = zone_admin.put(f"{TARGETS}/{year}", json=body)
    assert put.status_code == 200, put.json
    set_ = {t["category"]: (t["hours"], t["is_default"]) for t in put.json}
    assert set_["party-member"] == (6.0, False) and set_["worker"] == (5.5, False)
    assert set_["league-member"] == (None, True)

    summary = branch.summary(year)
    assert _by_name(summary) == {"甲": (6.0, 6.0, True), "乙": (0.0, 6.0, False),
                                 "丙": (6.0, 5.5, True)}  # fmt: skip
    assert summary["totals"] == {
        "members": 3,
        "members_with_target": 3,
        "compliant": 2,
        "compliance_rate": 0.6667,
    }
    # the change is audited in the zone's log
    audit = zone_admin.get("/api/v1/zone/audit", query_string={"object_type": "training_targets"})
    assert f"{year}:worker" in {e["object_id"] for e in audit.json}

    # a year set back to the default for party members
    reset = zone_admin.put(f"{TARGETS}/{year}", json=[{"category": "party-member", "hours": None}])
    assert {t["category"]: t["hours"] for t in reset.json}["party-member"] == 32.0
    assert branch.summary(year)["totals"]["compliant"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"category": "worker", "hours": -1}], "hours"),
        ([{"category": "worker", "hours": 1.001}], "hours"),
        ([{"category": "cadre", "hours": 1}], "category"),
        ([{"category": "worker", "hours": 1}, {"category": "worker", "hours": 2}], "category"),
    ],
)
def test_bad_targets_are_422_naming_the_item(zone_admin, body, field):
    year = 2020
    response = zone_admin.put(f"{TARGETS}/{year}", json=body)
    errors = assert_error(response, 422)["errors"]["json"]
    index = str(len(body) - 1)
    assert field in errors[index], errors
    assert all(t["is_default"] for t in zone_admin.get(TARGETS, query_string={"year": year}).json)


def test_a_year_out_of_range_is_422(zone_admin, branch):
    assert_error(zone_admin.put(f"{TARGETS}/1999", json=[]), 422, "year")
    response = branch.admin.get(branch.url("/training/summary"), query_string={"year": 1800})
    assert_error(response, 422, "year", location="query")
