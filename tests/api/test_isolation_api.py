"""Tenant isolation as a caller sees it through the API: another branch's objects and space are
`404 Not Found` (never 403, never disclosed), by id, by list filter, by PATCH and DELETE, with
nothing changed; zone roles do not read a branch's records; audit logs stay in their branch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.api.helpers import assert_error, total, worker
from tests.conftest import VALID_MEMBER, branch_admin_of, branch_member_of

SECRET_NAME = "欧阳秘密"


@dataclass
class Two:
    """Branches A and B; B has a member and a party group, made by B's admin."""

    a: object
    b: object
    admin_a: object
    admin_b: object
    b_member: dict
    b_member_etag: str
    b_group: dict
    b_group_etag: str

    def url(self, slug_of, path: str = "") -> str:
        return f"/api/v1/t/{slug_of.slug}{path}"


@pytest.fixture
def two(make_branch, as_groups) -> Two:
    a, b = make_branch(), make_branch()
    admin_a, admin_b = branch_admin_of(as_groups, a), branch_admin_of(as_groups, b)
    group = admin_b.post(f"/api/v1/t/{b.slug}/party-groups", json={"name": "B 组"})
    assert group.status_code == 201
    member = admin_b.post(
        f"/api/v1/t/{b.slug}/members",
        json={**VALID_MEMBER, "name": SECRET_NAME, "party_group_id": group.json["id"]},
    )
    assert member.status_code == 201, member.json
    # A has a member of its own with a similar name, so A's lists are not trivially empty
    assert admin_a.post(f"/api/v1/t/{a.slug}/members", json=worker("欧阳")).status_code == 201
    return Two(
        a,
        b,
        admin_a,
        admin_b,
        member.json,
        member.headers["ETag"],
        group.json,
        group.headers["ETag"],
    )


def _b_unchanged(two: Two) -> None:
    read = two.admin_b.get(two.url(two.b, f"/members/{two.b_member['id']}"))
    assert read.status_code == 200
    assert read.json == two.b_member
    assert read.headers["ETag"] == two.b_member_etag
    assert total(two.admin_b, two.url(two.b, "/members")) == 1
    groups = two.admin_b.get(two.url(two.b, "/party-groups")).json
    assert [(g["id"], g["name"], g["member_count"]) for g in groups] == [
        (two.b_group["id"], "B 组", 1)
    ]


def test_branch_a_admin_gets_404_for_branch_b_member_by_id_in_a_space(two):
    url = two.url(two.a, f"/members/{two.b_member['id']}")
    if_match = {"If-Match": two.b_member_etag}  # the real, current ETag of B's member

    assert_error(two.admin_a.get(url), 404)
    assert_error(two.admin_a.patch(url, json={"name": "改掉"}, headers=if_match), 404)
    assert_error(two.admin_a.delete(url, headers=if_match), 404)
    _b_unchanged(two)


def test_branch_a_admin_gets_404_for_branch_b_party_group_by_id_in_a_space(two):
    url = two.url(two.a, f"/party-groups/{two.b_group['id']}")
    if_match = {"If-Match": two.b_group_etag}

    assert_error(two.admin_a.get(url), 404)
    assert_error(two.admin_a.patch(url, json={"name": "改掉"}, headers=if_match), 404)
    assert_error(two.admin_a.delete(url, headers=if_match), 404)
    _b_unchanged(two)


def test_branch_a_lists_never_contain_branch_b_rows(two):
    members = two.url(two.a, "/members")
    for query in (
        {},
        {"name": SECRET_NAME},
        {"name": "欧阳"},
        {"party_group_id": two.b_group["id"]},
        {"category": "party-member"},
        {"page_size": 100},
    ):
        response = two.admin_a.get(members, query_string=query)
        assert response.status_code == 200
        assert two.b_member["id"] not in {m["id"] for m in response.json}
        assert SECRET_NAME not in response.get_data(as_text=True)
    assert total(two.admin_a, members, name=SECRET_NAME) == 0
    assert total(two.admin_a, members, party_group_id=two.b_group["id"]) == 0
    assert total(two.admin_a, members) == 1

    groups = two.admin_a.get(two.url(two.a, "/party-groups"))
    assert groups.status_code == 200
    assert groups.json == []


def _every_operation_in_b(two: Two):
    member = two.url(two.b, f"/members/{two.b_member['id']}")
    group = two.url(two.b, f"/party-groups/{two.b_group['id']}")
    member_etag = {"If-Match": two.b_member_etag}
    group_etag = {"If-Match": two.b_group_etag}
    caller = two.admin_a
    return [
        ("list members", caller.get(two.url(two.b, "/members"))),
        ("filter members", caller.get(two.url(two.b, "/members"), query_string={"name": "欧"})),
        ("read member", caller.get(member)),
        ("create member", caller.post(two.url(two.b, "/members"), json=worker("入侵者"))),
        ("change member", caller.patch(member, json={"name": "改掉"}, headers=member_etag)),
        ("delete member", caller.delete(member, headers=member_etag)),
        ("list groups", caller.get(two.url(two.b, "/party-groups"))),
        ("read group", caller.get(group)),
        ("create group", caller.post(two.url(two.b, "/party-groups"), json={"name": "入侵组"})),
        ("change group", caller.patch(group, json={"name": "改掉"}, headers=group_etag)),
        ("delete group", caller.delete(group, headers=group_etag)),
        ("read audit", caller.get(two.url(two.b, "/audit"))),
    ]


def test_branch_a_admin_gets_404_for_every_operation_in_branch_b_space(two):
    expected = f"No branch {two.b.slug!r}."
    for operation, response in _every_operation_in_b(two):
        body = assert_error(response, 404)
        assert body["message"] == expected, operation
    _b_unchanged(two)


def test_branch_a_member_gets_404_in_branch_b_space(two, as_groups):
    reader = branch_member_of(as_groups, two.a)
    for path in ("/members", f"/members/{two.b_member['id']}", "/party-groups", "/audit"):
        assert_error(reader.get(two.url(two.b, path)), 404)


def test_an_existing_branch_and_a_missing_one_answer_the_same_404(two):
    missing = f"no-such-{uuid.uuid4().hex[:8]}"
    existing = two.admin_a.get(two.url(two.b, "/members"))
    absent = two.admin_a.get(f"/api/v1/t/{missing}/members")
    assert existing.status_code == absent.status_code == 404
    assert existing.headers["Content-Type"] == absent.headers["Content-Type"]
    assert existing.json == {
        **absent.json,
        "message": absent.json["message"].replace(missing, two.b.slug),
    }
    assert set(existing.json) == {"code", "status", "message"}


@pytest.mark.parametrize("zone_role", ["pmsc:zone:admin", "pmsc:zone:viewer"])
def test_zone_roles_get_403_on_a_branch_member_records(two, as_groups, zone_role):
    caller = as_groups(zone_role)
    member = two.url(two.b, f"/members/{two.b_member['id']}")
    for response in (
        caller.get(two.url(two.b, "/members")),
        caller.get(member),
        caller.patch(member, json={"name": "改掉"}, headers={"If-Match": two.b_member_etag}),
        caller.delete(member, headers={"If-Match": two.b_member_etag}),
        caller.post(two.url(two.b, "/members"), json=worker("x")),
        caller.get(two.url(two.b, "/party-groups")),
        caller.get(two.url(two.b, "/audit")),
    ):
        body = assert_error(response, 403)
        assert SECRET_NAME not in body["message"]
    _b_unchanged(two)


def test_a_member_of_a_cannot_read_a_audit(two, as_groups):
    reader = branch_member_of(as_groups, two.a)
    assert_error(reader.get(two.url(two.a, "/audit")), 403)


def test_a_audit_never_contains_b_events(two):
    b_ids = {two.b_member["id"], two.b_group["id"]}
    events = two.admin_a.get(two.url(two.a, "/audit"), query_string={"page_size": 100})
    assert events.status_code == 200
    assert len(events.json) == 1  # A's own member
    assert not b_ids & {e["object_id"] for e in events.json}
    assert SECRET_NAME not in events.get_data(as_text=True)
    for b_id in b_ids:
        assert total(two.admin_a, two.url(two.a, "/audit"), object_id=b_id) == 0
    # B's admin does see them
    assert total(two.admin_b, two.url(two.b, "/audit"), object_id=two.b_member["id"]) == 1


def test_a_member_in_a_with_b_party_group_is_422_and_not_created(two):
    members = two.url(two.a, "/members")
    before = total(two.admin_a, members)
    audit_before = total(two.admin_a, two.url(two.a, "/audit"))
    body = {**VALID_MEMBER, "party_group_id": two.b_group["id"]}
    assert_error(two.admin_a.post(members, json=body), 422, "party_group_id")
    assert total(two.admin_a, members) == before
    assert total(two.admin_a, two.url(two.a, "/audit")) == audit_before
    _b_unchanged(two)


def test_a_member_moved_in_a_to_b_party_group_is_422_and_unchanged(two):
    created = two.admin_a.post(two.url(two.a, "/members"), json=worker("林"))
    url = two.url(two.a, f"/members/{created.json['id']}")
    response = two.admin_a.patch(
        url,
        json={"party_group_id": two.b_group["id"]},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert_error(response, 422, "party_group_id")
    assert two.admin_a.get(url).json == created.json
    _b_unchanged(two)
