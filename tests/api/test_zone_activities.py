"""Zone activities through the API: the zone manages them and sees counts per branch, never
names; each branch registers and sees only its own members; capacity counts every branch;
attendance is recorded once the activity is held, and feeds the branch's rollup (outbox)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.helpers import assert_error, worker
from tests.conftest import Caller, branch_admin_of, branch_member_of

ZONE = "/api/v1/zone/activities"
LECTURE = {
    "kind": "expert-lecture",
    "title": "数字经济专家讲座",
    "starts_at": "2025-09-10T14:00:00+08:00",
    "ends_at": "2025-09-10T16:00:00+08:00",
    "study_hours": 2,
}


@dataclass
class Branch:
    tenant: object
    admin: Caller
    members: list[dict]

    def url(self, path: str) -> str:
        return f"/api/v1/t/{self.tenant.slug}{path}"

    def registrations(self, activity: dict) -> str:
        return self.url(f"/zone-activities/{activity['id']}/registrations")

    def register(self, activity: dict, index: int = 0):
        body = {"member_id": self.members[index]["id"]}
        return self.admin.post(self.registrations(activity), json=body)


@pytest.fixture
def branches(make_branch, as_groups) -> tuple[Branch, Branch]:
    made = []
    for prefix in ("甲", "乙"):
        tenant = make_branch(name=f"{prefix}公司党支部")
        admin = branch_admin_of(as_groups, tenant)
        members = [
            admin.post(f"/api/v1/t/{tenant.slug}/members", json=worker(f"{prefix}{n}")).json
            for n in ("一", "二", "三")
        ]
        made.append(Branch(tenant, admin, members))
    return made[0], made[1]


def _create(zone_admin, **fields) -> dict:
    response = zone_admin.post(ZONE, json={**LECTURE, **fields})
    assert response.status_code == 201, response.json
    return {**response.json, "etag": response.headers["ETag"]}


def _hold(zone_admin, activity: dict) -> dict:
    current = zone_admin.get(f"{ZONE}/{activity['id']}")
    response = zone_admin.patch(
        f"{ZONE}/{activity['id']}",
        json={"status": "held"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.json
    return response.json


def test_zone_admin_manages_zone_activities_with_etags_and_rules(zone_admin, zone_viewer):
    made = _create(zone_admin, capacity=50)
    url = f"{ZONE}/{made['id']}"
    assert zone_viewer.get(url).json["title"] == LECTURE["title"]
    assert made["id"] in {
        a["id"] for a in zone_viewer.get(ZONE, query_string={"page_size": 100}).json
    }
    assert_error(zone_admin.patch(url, json={"place": "中心"}), 428)
    changed = zone_admin.patch(url, json={"place": "中心"}, headers={"If-Match": made["etag"]})
    assert changed.status_code == 200
    assert_error(
        zone_admin.patch(url, json={"place": "x"}, headers={"If-Match": made["etag"]}), 412
    )
    assert_error(zone_admin.post(ZONE, json={**LECTURE, "festival": "may-day"}), 422, "festival")
    assert_error(zone_admin.post(ZONE, json={**LECTURE, "capacity": 0}), 422, "capacity")
    assert_error(zone_viewer.post(ZONE, json=LECTURE), 403)


def test_each_branch_sees_only_its_own_registrations_and_the_zone_only_counts(branches, zone_admin):
    a, b = branches
    activity = _create(zone_admin)
    for index in (0, 1):
        assert a.register(activity, index).status_code == 201
    assert b.register(activity, 2).status_code == 201

    a_list = a.admin.get(a.registrations(activity))
    assert [r["member_name"] for r in a_list.json] == ["甲一", "甲二"]
    b_list = b.admin.get(b.registrations(activity))
    assert [r["member_name"] for r in b_list.json] == ["乙三"]
    assert "甲" not in b_list.get_data(as_text=True)

    # B cannot reach A's registration by id either
    a_reg = a_list.json[0]["id"]
    assert_error(b.admin.delete(f"{b.registrations(activity)}/{a_reg}"), 404)
    # nor register A's member
    body = {"member_id": a.members[2]["id"]}
    assert_error(b.admin.post(b.registrations(activity), json=body), 422, "member_id")

    _hold(zone_admin, activity)
    a.admin.put(f"{a.registrations(activity)}/{a_reg}", json={"attendance": "present"})
    counts = zone_admin.get(f"{ZONE}/{activity['id']}/registrations")
    assert counts.status_code == 200
    by_slug = {c["slug"]: (c["name"], c["registered"], c["attended"]) for c in counts.json}
    assert by_slug == {
        a.tenant.slug: ("甲公司党支部", 2, 1),
        b.tenant.slug: ("乙公司党支部", 1, 0),
    }
    text = counts.get_data(as_text=True)
    assert "甲一" not in text and "member" not in text


def test_capacity_counts_every_branch_and_is_409_when_full(branches, zone_admin):
    a, b = branches
    activity = _create(zone_admin, capacity=2)
    assert a.register(activity, 0).status_code == 201
    assert b.register(activity, 0).status_code == 201
    assert_error(a.register(activity, 1), 409)
    assert_error(b.register(activity, 1), 409)
    # a place freed in B can be taken by A
    reg = b.admin.get(b.registrations(activity)).json[0]["id"]
    assert b.admin.delete(f"{b.registrations(activity)}/{reg}").status_code == 204
    assert a.register(activity, 1).status_code == 201


def test_registration_is_open_while_planned_and_attendance_once_held(branches, zone_admin, outbox):
    a, _b = branches
    before = outbox(a.tenant)  # the roster's own messages
    activity = _create(zone_admin)
    made = a.register(activity)
    assert_error(a.register(activity), 409)  # already registered
    url = f"{a.registrations(activity)}/{made.json['id']}"
    assert_error(a.admin.put(url, json={"attendance": "present"}), 422, "status")
    assert outbox(a.tenant) == before

    _hold(zone_admin, activity)
    assert_error(a.register(activity, 1), 409)  # closed
    assert_error(a.admin.delete(url), 409)  # stays on record
    assert_error(a.admin.put(url, json={"attendance": "maybe"}), 422, "attendance")
    marked = a.admin.put(url, json={"attendance": "late"})
    assert marked.status_code == 200 and marked.json["attendance"] == "late"
    key = f"rollups:{a.tenant.id}"
    assert outbox(a.tenant) == [*before, ("rollups.recompute_branch", "rollups", key)]

    # with attendance recorded the zone activity stays held
    current = zone_admin.get(f"{ZONE}/{activity['id']}")
    back = zone_admin.patch(
        f"{ZONE}/{activity['id']}",
        json={"status": "planned"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert_error(back, 409)


def test_branch_lists_open_zone_activities_and_members_read_but_do_not_register(
    branches, zone_admin, as_groups
):
    a, _b = branches
    open_ = _create(zone_admin, title="开放的讲座")
    held = _hold(zone_admin, _create(zone_admin, title="已举办"))
    listed = a.admin.get(a.url("/zone-activities"), query_string={"page_size": 100}).json
    assert open_["id"] in {x["id"] for x in listed} and held["id"] not in {x["id"] for x in listed}
    past = a.admin.get(a.url("/zone-activities"), query_string={"status": "held", "page_size": 100})
    assert held["id"] in {x["id"] for x in past.json}
    reader = branch_member_of(as_groups, a.tenant)
    assert reader.get(a.registrations(open_)).status_code == 200
    assert_error(reader.post(a.registrations(open_), json={"member_id": a.members[0]["id"]}), 403)
    assert_error(
        a.admin.get(a.url("/zone-activities/00000000-0000-7000-8000-000000000000/registrations")),
        404,
    )
