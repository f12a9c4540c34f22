"""A branch's activities and attendance through the API: CRUD, filters, ETags, each rule of
`service/activities/service.py` (422 naming the field, 409 for state), attendance in bulk (all or
nothing) and one by one, and the outbox message every such write records in its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.helpers import assert_error, total, worker
from tests.conftest import Caller, branch_admin_of, branch_member_of

HELD = {
    "kind": "general-meeting",
    "title": "第一季度党员大会",
    "starts_at": "2025-03-01T09:00:00+08:00",
    "ends_at": "2025-03-01T11:00:00+08:00",
    "status": "held",
    "study_hours": 2,
}


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@dataclass
class Branch:
    tenant: object
    admin: Caller
    members: list[dict]

    def url(self, path: str = "") -> str:
        return f"/api/v1/t/{self.tenant.slug}{path}"

    def create(self, **fields) -> dict:
        response = self.admin.post(self.url("/activities"), json={**HELD, **fields})
        assert response.status_code == 201, response.get_data(as_text=True)
        return {**response.json, "etag": response.headers["ETag"]}


@pytest.fixture
def branch(make_branch, as_groups) -> Branch:
    tenant = make_branch()
    admin = branch_admin_of(as_groups, tenant)
    members = []
    for name in ("王芳", "李强", "赵敏"):
        made = admin.post(f"/api/v1/t/{tenant.slug}/members", json=worker(name))
        assert made.status_code == 201
        members.append(made.json)
    return Branch(tenant, admin, members)


# activities


def test_an_activity_is_created_read_changed_and_deleted_with_etags(branch):
    made = branch.create(status="planned", starts_at=future(), ends_at=future(31), place="三楼")
    url = branch.url(f"/activities/{made['id']}")
    read = branch.admin.get(url)
    assert read.status_code == 200
    assert read.json["title"] == HELD["title"] and read.json["status"] == "planned"
    assert read.json["study_hours"] == 2.0
    assert read.headers["ETag"] == made["etag"]

    assert_error(branch.admin.patch(url, json={"place": "x"}), 428)
    changed = branch.admin.patch(
        url, json={"place": "四楼", "study_hours": 1.25}, headers={"If-Match": made["etag"]}
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["place"] == "四楼" and changed.json["study_hours"] == 1.25
    assert_error(
        branch.admin.patch(url, json={"place": "五楼"}, headers={"If-Match": made["etag"]}), 412
    )
    assert_error(branch.admin.delete(url, headers={"If-Match": made["etag"]}), 412)
    assert (
        branch.admin.delete(url, headers={"If-Match": changed.headers["ETag"]}).status_code == 204
    )
    assert_error(branch.admin.get(url), 404)


def test_activities_list_newest_first_and_filters_by_kind_status_and_start(branch):
    old = branch.create(starts_at="2024-05-04T09:00:00+08:00", ends_at="2024-05-04T10:00:00+08:00")
    mid = branch.create(kind="party-lecture", title="党课")
    new = branch.create(status="planned", starts_at=future(), ends_at=future(31))
    listed = branch.admin.get(branch.url("/activities"))
    assert [a["id"] for a in listed.json] == [new["id"], mid["id"], old["id"]]
    kinds = branch.admin.get(branch.url("/activities"), query_string={"kind": "party-lecture"})
    assert [a["id"] for a in kinds.json] == [mid["id"]]
    planned = branch.admin.get(branch.url("/activities"), query_string={"status": "planned"})
    assert [a["id"] for a in planned.json] == [new["id"]]
    in_2025 = branch.admin.get(
        branch.url("/activities"),
        query_string={
            "starts_from": "2025-01-01T00:00:00+08:00",
            "starts_before": "2026-01-01T00:00:00+08:00",
        },
    )
    assert [a["id"] for a in in_2025.json] == [mid["id"]]
    assert total(branch.admin, branch.url("/activities"), status="held") == 2
    assert_error(
        branch.admin.get(
            branch.url("/activities"), query_string={"starts_from": "2025-01-01T00:00"}
        ),
        422,
        "starts_from",
        location="query",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": "2025-03-01T08:00:00+08:00"}, "ends_at"),
        ({"kind": "consultation"}, "consultation_topic"),
        ({"consultation_topic": "law"}, "consultation_topic"),
        ({"festival": "national-day"}, "festival"),
        ({"training_topic": "ideology"}, "training_topic"),
        ({"study_hours": 24.01}, "study_hours"),
        ({"study_hours": -1}, "study_hours"),
        ({"study_hours": 1.234}, "study_hours"),
        ({"capacity": 0}, "capacity"),
        ({"starts_at": "2025-03-01T09:00:00"}, "starts_at"),
        ({"starts_at": future(), "ends_at": future(31)}, "status"),
        ({"status": "done"}, "status"),
        ({"title": ""}, "title"),
    ],
)
def test_a_broken_rule_is_422_naming_the_field_and_writes_nothing(branch, outbox, fields, field):
    before = outbox(branch.tenant)
    response = branch.admin.post(branch.url("/activities"), json={**HELD, **fields})
    assert_error(response, 422, field)
    assert total(branch.admin, branch.url("/activities")) == 0
    assert outbox(branch.tenant) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "consultation", "consultation_topic": "psychology"},
        {"kind": "cultural-sports", "festival": "may-day"},
        {"kind": "expert-lecture", "training_topic": "industry", "study_hours": 23.75},
        {"kind": "training", "capacity": 1, "study_hours": 0},
    ],
)
def test_the_rules_allow_what_each_kind_may_have(branch, fields):
    assert branch.create(**fields)["kind"] == fields["kind"]


def test_a_patch_is_checked_against_the_merged_activity(branch):
    made = branch.create(kind="cultural-sports", festival="new-year")
    url = branch.url(f"/activities/{made['id']}")
    response = branch.admin.patch(
        url, json={"kind": "training"}, headers={"If-Match": made["etag"]}
    )
    assert_error(response, 422, "festival")
    assert branch.admin.get(url).json["kind"] == "cultural-sports"


def test_an_activity_with_attendance_stays_held_and_cannot_be_deleted(branch):
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}")
    record = [{"member_id": branch.members[0]["id"], "status": "present"}]
    assert branch.admin.put(f"{url}/attendance", json=record).status_code == 200
    etag = {"If-Match": branch.admin.get(url).headers["ETag"]}
    for status in ("planned", "cancelled"):
        assert_error(branch.admin.patch(url, json={"status": status}, headers=etag), 409)
    assert_error(branch.admin.delete(url, headers=etag), 409)
    # once the record is cleared, it may go back
    assert branch.admin.put(f"{url}/attendance", json=[]).status_code == 200
    assert branch.admin.patch(url, json={"status": "cancelled"}, headers=etag).status_code == 200


def test_a_branch_member_reads_activities_but_cannot_write_them(branch, as_groups):
    made = branch.create()
    reader = branch_member_of(as_groups, branch.tenant)
    assert reader.get(branch.url(f"/activities/{made['id']}")).status_code == 200
    assert reader.get(branch.url(f"/activities/{made['id']}/attendance")).status_code == 200
    assert_error(reader.post(branch.url("/activities"), json=HELD), 403)
    assert_error(reader.put(branch.url(f"/activities/{made['id']}/attendance"), json=[]), 403)


# attendance


def _names(response) -> list[tuple[str, str]]:
    return [(a["member_name"], a["status"]) for a in response.json]


def test_bulk_attendance_replaces_the_whole_record_and_lists_by_name(branch):
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}/attendance")
    wang, li, zhao = (m["id"] for m in branch.members)
    first = branch.admin.put(
        url,
        json=[
            {"member_id": wang, "status": "present"},
            {"member_id": li, "status": "excused", "reason": "出差"},
            {"member_id": zhao, "status": "absent"},
        ],
    )
    assert first.status_code == 200, first.json
    assert _names(first) == [("李强", "excused"), ("王芳", "present"), ("赵敏", "absent")]
    second = branch.admin.put(url, json=[{"member_id": zhao, "status": "late"}])
    assert _names(second) == [("赵敏", "late")]
    assert _names(branch.admin.get(url)) == [("赵敏", "late")]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"status": "present", "member_id": "00000000-0000-7000-8000-000000000000"}, "member_id"),
        ({"status": "excused"}, "reason"),
        ({"status": "sleeping"}, "status"),
        ({"status": "present", "member_id": "dup"}, "member_id"),
    ],
    ids=["unknown-member", "excused-without-reason", "unknown-status", "duplicate"],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(branch, outbox, bad, field):
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}/attendance")
    wang, li, zhao = (m["id"] for m in branch.members)
    assert branch.admin.put(url, json=[{"member_id": wang, "status": "absent"}]).status_code == 200
    before, messages = branch.admin.get(url).json, len(outbox(branch.tenant))
    member = {"dup": li}.get(bad.get("member_id"), bad.get("member_id", zhao))
    batch = [
        {"member_id": wang, "status": "present"},
        {"member_id": li, "status": "present"},
        {**bad, "member_id": member},
    ]
    assert_error(branch.admin.put(url, json=batch), 422, "2")
    body = branch.admin.put(url, json=batch).json
    assert field in body["errors"]["json"]["2"], body
    assert f"2.{field}" in body["message"]
    assert branch.admin.get(url).json == before
    assert len(outbox(branch.tenant)) == messages


def test_attendance_for_a_member_of_another_branch_refuses_the_batch(
    branch, make_branch, as_groups
):
    other = make_branch()
    stranger = branch_admin_of(as_groups, other).post(
        f"/api/v1/t/{other.slug}/members", json=worker("外人")
    )
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}/attendance")
    batch = [
        {"member_id": branch.members[0]["id"], "status": "present"},
        {"member_id": stranger.json["id"], "status": "present"},
    ]
    body = assert_error(branch.admin.put(url, json=batch), 422)
    assert "member_id" in body["errors"]["json"]["1"]
    assert branch.admin.get(url).json == []
    one = branch.admin.put(f"{url}/{stranger.json['id']}", json={"status": "present"})
    assert_error(one, 404)


@pytest.mark.parametrize("status", ["planned", "cancelled"])
def test_attendance_is_refused_unless_the_activity_was_held(branch, outbox, status):
    made = branch.create(status=status, starts_at=future(), ends_at=future(31))
    url = branch.url(f"/activities/{made['id']}/attendance")
    record = {"member_id": branch.members[0]["id"], "status": "present"}
    messages = len(outbox(branch.tenant))
    assert_error(branch.admin.put(url, json=[record]), 422, "status")
    assert_error(
        branch.admin.put(f"{url}/{record['member_id']}", json={"status": "present"}), 422, "status"
    )
    assert branch.admin.get(url).json == []
    assert len(outbox(branch.tenant)) == messages


def test_attendance_one_by_one(branch):
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}/attendance")
    wang = branch.members[0]["id"]
    set_ = branch.admin.put(f"{url}/{wang}", json={"status": "excused", "reason": "病假"})
    assert set_.status_code == 200, set_.json
    assert (set_.json["member_name"], set_.json["reason"]) == ("王芳", "病假")
    assert_error(branch.admin.put(f"{url}/{wang}", json={"status": "excused"}), 422, "reason")
    assert branch.admin.put(f"{url}/{wang}", json={"status": "late"}).json["status"] == "late"
    assert _names(branch.admin.get(url)) == [("王芳", "late")]
    assert branch.admin.delete(f"{url}/{wang}").status_code == 204
    assert branch.admin.get(url).json == []
    assert_error(branch.admin.delete(f"{url}/{wang}"), 404)


# the outbox


def test_every_write_records_one_rollup_message_for_its_branch(branch, outbox):
    key = ("rollups.recompute_branch", "rollups", f"rollups:{branch.tenant.id}")
    before = outbox(branch.tenant)
    made = branch.create()
    assert outbox(branch.tenant) == [*before, key]
    url = branch.url(f"/activities/{made['id']}")
    branch.admin.patch(url, json={"study_hours": 3}, headers={"If-Match": made["etag"]})
    wang = branch.members[0]["id"]
    branch.admin.put(f"{url}/attendance", json=[{"member_id": wang, "status": "present"}])
    branch.admin.put(f"{url}/attendance/{wang}", json={"status": "late"})
    branch.admin.delete(f"{url}/attendance/{wang}")
    etag = branch.admin.get(url).headers["ETag"]
    assert branch.admin.delete(url, headers={"If-Match": etag}).status_code == 204
    assert outbox(branch.tenant) == [*before, *[key] * 6]


def test_a_refused_write_records_no_message(branch, outbox):
    made = branch.create()
    url = branch.url(f"/activities/{made['id']}")
    before = outbox(branch.tenant)
    assert_error(branch.admin.patch(url, json={"study_hours": 3}, headers={"If-Match": '"x"'}), 412)
    assert_error(
        branch.admin.patch(
            url, json={"ends_at": "2020-01-01T00:00:00+08:00"}, headers={"If-Match": made["etag"]}
        ),
        422,
        "ends_at",
    )
    assert_error(branch.admin.post(branch.url("/activities"), json={**HELD, "capacity": 0}), 422)
    assert outbox(branch.tenant) == before
