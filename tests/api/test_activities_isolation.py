"""Tenant isolation of activities, attendance, training hours and zone registrations: from its
own space, branch A reaches none of branch B's objects by id (404, nothing changed); in B's
space, every new endpoint is 404 for A; zone roles do not read a branch's records (403)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.helpers import assert_error, worker
from tests.conftest import Caller, branch_admin_of

SECRET = "欧阳秘密"
HELD = {
    "kind": "party-lecture",
    "title": "B 的党课",
    "starts_at": "2025-03-01T09:00:00+08:00",
    "ends_at": "2025-03-01T11:00:00+08:00",
    "status": "held",
    "study_hours": 3,
}


@dataclass
class Two:
    a: object
    b: object
    admin_a: Caller
    admin_b: Caller
    a_member: str
    b_member: str
    b_activity: dict
    zone_activity: dict
    b_registration: str

    def url(self, tenant, path: str) -> str:
        return f"/api/v1/t/{tenant.slug}{path}"

    def b_state(self) -> tuple:
        """Everything of B's the tests could change, read by B's admin."""
        activity = self.admin_b.get(self.url(self.b, f"/activities/{self.b_activity['id']}"))
        attendance = self.admin_b.get(
            self.url(self.b, f"/activities/{self.b_activity['id']}/attendance")
        )
        regs = self.admin_b.get(
            self.url(self.b, f"/zone-activities/{self.zone_activity['id']}/registrations")
        )
        summary = self.admin_b.get(self.url(self.b, "/training/summary?year=2025"))
        return activity.json, activity.headers["ETag"], attendance.json, regs.json, summary.json


@pytest.fixture
def two(make_branch, as_groups, zone_admin) -> Two:
    a, b = make_branch(), make_branch()
    admin_a, admin_b = branch_admin_of(as_groups, a), branch_admin_of(as_groups, b)
    a_member = admin_a.post(f"/api/v1/t/{a.slug}/members", json=worker("欧阳")).json["id"]
    b_member = admin_b.post(f"/api/v1/t/{b.slug}/members", json=worker(SECRET)).json["id"]
    activity = admin_b.post(f"/api/v1/t/{b.slug}/activities", json=HELD)
    assert activity.status_code == 201
    put = admin_b.put(
        f"/api/v1/t/{b.slug}/activities/{activity.json['id']}/attendance",
        json=[{"member_id": b_member, "status": "present"}],
    )
    assert put.status_code == 200
    zone_activity = zone_admin.post(
        "/api/v1/zone/activities", json={**HELD, "status": "planned", "title": "区域讲座"}
    ).json
    registration = admin_b.post(
        f"/api/v1/t/{b.slug}/zone-activities/{zone_activity['id']}/registrations",
        json={"member_id": b_member},
    )
    assert registration.status_code == 201
    return Two(
        a,
        b,
        admin_a,
        admin_b,
        a_member,
        b_member,
        {**activity.json, "etag": activity.headers["ETag"]},
        zone_activity,
        registration.json["id"],
    )


def test_a_reaches_none_of_b_objects_by_id_from_its_own_space(two):
    before = two.b_state()
    activity = two.url(two.a, f"/activities/{two.b_activity['id']}")
    etag = {"If-Match": two.b_activity["etag"]}
    regs = two.url(two.a, f"/zone-activities/{two.zone_activity['id']}/registrations")
    for response in (
        two.admin_a.get(activity),
        two.admin_a.patch(activity, json={"title": "改掉"}, headers=etag),
        two.admin_a.delete(activity, headers=etag),
        two.admin_a.get(f"{activity}/attendance"),
        two.admin_a.put(f"{activity}/attendance", json=[]),
        two.admin_a.put(f"{activity}/attendance/{two.b_member}", json={"status": "absent"}),
        two.admin_a.delete(f"{activity}/attendance/{two.b_member}"),
        two.admin_a.put(f"{regs}/{two.b_registration}", json={"attendance": "absent"}),
        two.admin_a.delete(f"{regs}/{two.b_registration}"),
    ):
        body = assert_error(response, 404)
        assert SECRET not in body["message"]
    # B's member, named in A's own activity or registration, is unknown in A
    own = two.admin_a.post(two.url(two.a, "/activities"), json=HELD).json
    url = two.url(two.a, f"/activities/{own['id']}/attendance")
    assert_error(two.admin_a.put(f"{url}/{two.b_member}", json={"status": "present"}), 404)
    assert_error(two.admin_a.post(regs, json={"member_id": two.b_member}), 422, "member_id")
    assert two.b_state() == before


def test_a_lists_and_summaries_never_show_b_rows(two):
    for path in (
        "/activities?page_size=100",
        f"/activities?kind={HELD['kind']}",
        "/training/summary?year=2025",
        f"/zone-activities/{two.zone_activity['id']}/registrations",
    ):
        response = two.admin_a.get(two.url(two.a, path))
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        assert SECRET not in text and two.b_activity["id"] not in text, path
    summary = two.admin_a.get(two.url(two.a, "/training/summary?year=2025")).json
    assert [m["name"] for m in summary["members"]] == ["欧阳"]


def _every_operation_in_b(two: Two) -> list[tuple[str, object]]:
    activity = two.url(two.b, f"/activities/{two.b_activity['id']}")
    etag = {"If-Match": two.b_activity["etag"]}
    regs = two.url(two.b, f"/zone-activities/{two.zone_activity['id']}/registrations")
    caller = two.admin_a
    return [
        ("list activities", caller.get(two.url(two.b, "/activities"))),
        ("create activity", caller.post(two.url(two.b, "/activities"), json=HELD)),
        ("read activity", caller.get(activity)),
        ("change activity", caller.patch(activity, json={"title": "x"}, headers=etag)),
        ("delete activity", caller.delete(activity, headers=etag)),
        ("read attendance", caller.get(f"{activity}/attendance")),
        ("replace attendance", caller.put(f"{activity}/attendance", json=[])),
        (
            "set attendance",
            caller.put(f"{activity}/attendance/{two.b_member}", json={"status": "absent"}),
        ),
        ("clear attendance", caller.delete(f"{activity}/attendance/{two.b_member}")),
        ("training summary", caller.get(two.url(two.b, "/training/summary"))),
        ("zone activities", caller.get(two.url(two.b, "/zone-activities"))),
        ("list registrations", caller.get(regs)),
        ("register", caller.post(regs, json={"member_id": two.a_member})),
        (
            "registration attendance",
            caller.put(f"{regs}/{two.b_registration}", json={"attendance": "absent"}),
        ),
        ("withdraw registration", caller.delete(f"{regs}/{two.b_registration}")),
    ]


def test_a_admin_gets_404_for_every_new_operation_in_b_space(two):
    before = two.b_state()
    expected = f"No branch {two.b.slug!r}."
    for operation, response in _every_operation_in_b(two):
        assert assert_error(response, 404)["message"] == expected, operation
    assert two.b_state() == before


@pytest.mark.parametrize("zone_role", ["pmsc:zone:admin", "pmsc:zone:viewer"])
def test_zone_roles_get_403_on_a_branch_activity_records(two, as_groups, zone_role):
    caller = as_groups(zone_role)
    activity = two.url(two.b, f"/activities/{two.b_activity['id']}")
    regs = two.url(two.b, f"/zone-activities/{two.zone_activity['id']}/registrations")
    for response in (
        caller.get(two.url(two.b, "/activities")),
        caller.get(activity),
        caller.get(f"{activity}/attendance"),
        caller.get(two.url(two.b, "/training/summary")),
        caller.get(regs),
    ):
        body = assert_error(response, 403)
        assert SECRET not in body["message"]
