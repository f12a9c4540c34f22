"""The branch audit log, `/api/v1/t/<slug>/audit`: every write in a branch's space leaves exactly
one event naming the actor from the token, the action, the object, and before/after of the
changed fields only, with ID-card numbers and phones masked; a refused write leaves none; branch
admins read it newest first, filtered and paginated."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.api.helpers import assert_error, total, worker
from tests.conftest import VALID_MEMBER

MASK = "***"
SUBJECT = "secretary-001"
ACTOR_NAME = "支部书记 李华"


@dataclass
class Space:
    slug: str
    admin: object
    issuer_url: str

    @property
    def members(self) -> str:
        return f"/api/v1/t/{self.slug}/members"

    @property
    def groups(self) -> str:
        return f"/api/v1/t/{self.slug}/party-groups"

    @property
    def audit(self) -> str:
        return f"/api/v1/t/{self.slug}/audit"

    def events(self, **query) -> list[dict]:
        response = self.admin.get(self.audit, query_string={"page_size": 100, **query})
        assert response.status_code == 200, response.json
        return response.json

    def only_new_event(self, before: int) -> dict:
        """The one event recorded since the log held `before` events."""
        assert total(self.admin, self.audit) == before + 1
        return self.events()[0]


@pytest.fixture
def space(make_branch, as_groups, issuer) -> Space:
    branch = make_branch()
    admin = as_groups(f"pmsc:branch:{branch.slug}:admin", subject=SUBJECT, name=ACTOR_NAME)
    return Space(branch.slug, admin, issuer.url)


def _assert_actor(event: dict, space: Space) -> None:
    assert event["actor"] == {"issuer": space.issuer_url, "subject": SUBJECT, "name": ACTOR_NAME}


def _no_plaintext(event: dict) -> None:
    dumped = json.dumps(event, ensure_ascii=False)
    for secret in (VALID_MEMBER["id_card_number"], VALID_MEMBER["phone"], "1235", "5678"):
        assert secret not in dumped


# one event per write


def test_creating_a_member_records_one_event_with_every_field_set(space):
    before = total(space.admin, space.audit)
    created = space.admin.post(space.members, json=VALID_MEMBER).json
    event = space.only_new_event(before)

    _assert_actor(event, space)
    assert event["action"] == "create"
    assert event["object_type"] == "members"
    assert event["object_id"] == created["id"]
    assert event["occurred_at"]
    assert set(event["changes"]) == set(VALID_MEMBER)
    for field, value in VALID_MEMBER.items():
        expected = MASK if field in ("phone", "id_card_number") else value
        assert event["changes"][field] == {"before": None, "after": expected}, field
    _no_plaintext(event)


def test_changing_a_member_records_only_the_changed_fields_masked(space):
    created = space.admin.post(space.members, json=VALID_MEMBER)
    before = total(space.admin, space.audit)
    response = space.admin.patch(
        f"{space.members}/{created.json['id']}",
        json={
            "position": "书记",
            "phone": "13900001111",
            "name": VALID_MEMBER["name"],  # sent, but unchanged
            "education": VALID_MEMBER["education"],
        },
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200
    event = space.only_new_event(before)

    _assert_actor(event, space)
    assert event["action"] == "update"
    assert event["object_id"] == created.json["id"]
    assert event["changes"] == {
        "position": {"before": VALID_MEMBER["position"], "after": "书记"},
        "phone": {"before": MASK, "after": MASK},
    }
    assert "13900001111" not in json.dumps(event)


def test_changing_an_id_card_number_is_recorded_masked(space):
    created = space.admin.post(space.members, json=worker("赵敏"))
    before = total(space.admin, space.audit)
    card = "11010519491231002X"
    response = space.admin.patch(
        f"{space.members}/{created.json['id']}",
        json={"id_card_number": card, "birth_date": "1949-12-31"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.json
    event = space.only_new_event(before)
    assert event["changes"] == {
        "id_card_number": {"before": None, "after": MASK},
        "birth_date": {"before": None, "after": "1949-12-31"},
    }
    assert card not in json.dumps(event)


def test_deleting_a_member_records_what_it_held_masked(space):
    created = space.admin.post(space.members, json=VALID_MEMBER)
    before = total(space.admin, space.audit)
    url = f"{space.members}/{created.json['id']}"
    assert space.admin.delete(url, headers={"If-Match": created.headers["ETag"]}).status_code == 204
    event = space.only_new_event(before)

    _assert_actor(event, space)
    assert event["action"] == "delete"
    assert event["object_id"] == created.json["id"]
    assert set(event["changes"]) == set(VALID_MEMBER)  # empty fields were not "changed"
    assert event["changes"]["name"] == {"before": VALID_MEMBER["name"], "after": None}
    assert event["changes"]["phone"] == {"before": MASK, "after": None}
    assert event["changes"]["id_card_number"] == {"before": MASK, "after": None}
    _no_plaintext(event)


def test_party_group_create_update_delete_each_record_one_event(space):
    before = total(space.admin, space.audit)
    created = space.admin.post(space.groups, json={"name": "第一党小组", "notes": "研发"})
    group_id = created.json["id"]
    create = space.only_new_event(before)
    assert (create["action"], create["object_type"], create["object_id"]) == (
        "create",
        "party_groups",
        group_id,
    )
    assert create["changes"] == {
        "name": {"before": None, "after": "第一党小组"},
        "notes": {"before": None, "after": "研发"},
    }
    _assert_actor(create, space)

    url = f"{space.groups}/{group_id}"
    renamed = space.admin.patch(
        url,
        json={"name": "研发党小组", "notes": "研发"},
        headers={"If-Match": created.headers["ETag"]},
    )
    update = space.only_new_event(before + 1)
    assert update["action"] == "update"
    assert update["changes"] == {"name": {"before": "第一党小组", "after": "研发党小组"}}

    assert space.admin.delete(url, headers={"If-Match": renamed.headers["ETag"]}).status_code == 204
    delete = space.only_new_event(before + 2)
    assert delete["action"] == "delete"
    assert delete["object_id"] == group_id
    assert delete["changes"] == {
        "name": {"before": "研发党小组", "after": None},
        "notes": {"before": "研发", "after": None},
    }


def test_each_actor_is_named_by_their_own_token(space, as_groups):
    other = as_groups(f"pmsc:branch:{space.slug}:admin", subject="deputy-002", name="副书记 周")
    space.admin.post(space.members, json=worker("甲"))
    other.post(space.members, json=worker("乙"))
    newest, older = space.events()[:2]
    assert newest["actor"]["subject"] == "deputy-002"
    assert newest["actor"]["name"] == "副书记 周"
    assert older["actor"]["subject"] == SUBJECT


# refused writes leave no event


def test_refused_writes_leave_no_event(space):
    created = space.admin.post(space.members, json=VALID_MEMBER)
    group = space.admin.post(space.groups, json={"name": "一组"})
    space.admin.post(space.members, json=worker("组员", party_group_id=group.json["id"]))
    url = f"{space.members}/{created.json['id']}"
    etag = created.headers["ETag"]
    changed = space.admin.patch(url, json={"position": "委员"}, headers={"If-Match": etag})
    assert changed.status_code == 200
    before = total(space.admin, space.audit)

    fresh = {"If-Match": changed.headers["ETag"]}
    group_url = f"{space.groups}/{group.json['id']}"
    refusals = [
        (space.admin.post(space.members, json={**VALID_MEMBER, "party_status": None}), 422),
        (space.admin.post(space.members, json={**VALID_MEMBER, "gender": "female"}), 422),
        (space.admin.patch(url, json={"position": "书记"}, headers={"If-Match": etag}), 412),
        (space.admin.patch(url, json={"position": "书记"}), 428),
        (space.admin.patch(url, json={"category": "worker"}, headers=fresh), 422),
        (space.admin.delete(url, headers={"If-Match": etag}), 412),
        (space.admin.post(space.groups, json={"name": "一组"}), 409),
        (space.admin.delete(group_url, headers={"If-Match": group.headers["ETag"]}), 409),
    ]
    for response, status in refusals:
        assert_error(response, status)
    assert total(space.admin, space.audit) == before
    assert space.admin.get(url).json == changed.json


# reading the log


def test_branch_admin_reads_the_log_newest_first_filtered_and_paginated(space):
    first = space.admin.post(space.members, json=VALID_MEMBER)
    second = space.admin.post(space.members, json=worker("王五")).json
    group = space.admin.post(space.groups, json={"name": "一组"}).json
    changed = space.admin.patch(
        f"{space.members}/{first.json['id']}",
        json={"position": "书记"},
        headers={"If-Match": first.headers["ETag"]},
    )
    assert changed.status_code == 200

    events = space.events()
    assert [(e["action"], e["object_id"]) for e in events] == [
        ("update", first.json["id"]),
        ("create", group["id"]),
        ("create", second["id"]),
        ("create", first.json["id"]),
    ]
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times, reverse=True)

    assert [e["object_id"] for e in space.events(object_type="party_groups")] == [group["id"]]
    assert [e["action"] for e in space.events(object_id=first.json["id"])] == ["update", "create"]
    assert [e["object_id"] for e in space.events(action="update")] == [first.json["id"]]
    assert space.events(object_type="members", action="delete") == []
    assert space.events(until=events[-1]["occurred_at"]) == []
    assert [e["id"] for e in space.events(since=events[0]["occurred_at"])] == [events[0]["id"]]

    page = space.admin.get(space.audit, query_string={"page_size": 3, "page": 2})
    assert json.loads(page.headers["X-Pagination"])["total"] == 4
    assert [e["id"] for e in page.json] == [events[3]["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"action": "drop"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2024-01-01T00:00:00"}, "since"),  # no time zone
        ({"until": "0001-01-01T00:00:00+05:00"}, "until"),
        ({"object_id": "x" * 65}, "object_id"),
        ({"object_type": "a\x00b"}, "object_type"),
        ({"page_size": 101}, "page_size"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_audit_filters_are_422_naming_them(space, query, field):
    assert_error(space.admin.get(space.audit, query_string=query), 422, field, location="query")


def test_only_branch_admins_read_the_branch_log(space, as_groups, zone_admin):
    assert_error(as_groups(f"pmsc:branch:{space.slug}:member").get(space.audit), 403)
    assert_error(zone_admin.get(space.audit), 403)
