"""A branch's roster, `/api/v1/t/<slug>/members`, and its party groups, `/party-groups`: the
round trip, filters and pagination, ETags, the roster's rules (each refusal a 422 naming the
field, with nothing written), masking for branch members, and who may write."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest

from tests.api.helpers import assert_error, id_card, tenant_body, total, worker
from tests.conftest import VALID_MEMBER, Caller, branch_admin_of, branch_member_of


@pytest.fixture
def branch(make_branch):
    return make_branch()


@pytest.fixture
def admin(as_groups, branch):
    return branch_admin_of(as_groups, branch)


@pytest.fixture
def members_url(branch) -> str:
    return f"/api/v1/t/{branch.slug}/members"


@pytest.fixture
def groups_url(branch) -> str:
    return f"/api/v1/t/{branch.slug}/party-groups"


def _post(caller, url: str, body: dict):
    response = caller.post(url, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


# round trip


def test_branch_admin_creates_reads_changes_and_deletes_a_member(admin, members_url):
    created = _post(admin, members_url, VALID_MEMBER)
    assert created.headers["ETag"]
    member = created.json
    assert {k: member[k] for k in VALID_MEMBER} == VALID_MEMBER  # the admin sees all in clear
    assert member["version"] == 1
    url = f"{members_url}/{member['id']}"

    read = admin.get(url)
    assert read.status_code == 200
    assert read.json == member
    assert read.headers["ETag"] == created.headers["ETag"]
    assert total(admin, members_url) == 1

    changed = admin.patch(
        url,
        json={"position": "书记", "phone": "0512-66881234", "notes": "2024 年优秀党员"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["position"] == "书记"
    assert changed.json["phone"] == "0512-66881234"
    assert changed.json["name"] == VALID_MEMBER["name"]
    assert changed.json["version"] == 2
    assert changed.headers["ETag"] != read.headers["ETag"]
    assert admin.get(url).json == changed.json

    deleted = admin.delete(url, headers={"If-Match": changed.headers["ETag"]})
    assert deleted.status_code == 204
    assert_error(admin.get(url), 404)
    assert total(admin, members_url) == 0


def test_phone_and_id_card_are_normalized(admin, members_url):
    card = id_card(date(1990, 5, 4), male=False).replace("X", "x")
    body = worker("陈静", birth_date="1990-05-04", phone="+8613812345678", id_card_number=card)
    created = _post(admin, members_url, body).json
    assert created["phone"] == "13812345678"
    assert created["id_card_number"] == card.upper()


def test_mobile_number_written_with_spaces_is_accepted_and_stored_without_them(admin, members_url):
    created = _post(admin, members_url, worker("周敏", phone="138 1234 5678")).json
    assert created["phone"] == "13812345678"


def test_id_card_whose_birth_date_lies_in_the_future_is_refused(admin, members_url):
    card = id_card(date.today().replace(year=date.today().year + 1), male=True)
    before = total(admin, members_url)
    response = admin.post(members_url, json=worker("未来", id_card_number=card))
    assert_error(response, 422, "id_card_number")
    assert total(admin, members_url) == before


def test_chinese_text_is_sent_as_utf_8_not_escaped(admin, members_url):
    response = _post(admin, members_url, worker("欧阳娜娜"))
    assert "欧阳娜娜".encode() in response.get_data()
    assert b"\\u" not in response.get_data()


def test_text_is_trimmed(admin, members_url):
    created = _post(admin, members_url, worker("  刘洋  ", position=" 宣传委员 ")).json
    assert created["name"] == "刘洋"
    assert created["position"] == "宣传委员"


def test_an_unknown_member_is_404(admin, members_url):
    missing = f"{members_url}/{uuid.uuid4()}"
    assert_error(admin.get(missing), 404)
    assert_error(admin.patch(missing, json={"name": "x"}, headers={"If-Match": '"x"'}), 404)
    assert_error(admin.delete(missing, headers={"If-Match": '"x"'}), 404)
    assert_error(admin.get(f"{members_url}/not-a-uuid"), 404)


# list: filters and pagination


def test_list_filters_by_category_party_status_and_name(admin, members_url):
    full = _post(admin, members_url, VALID_MEMBER).json
    probationary = _post(
        admin,
        members_url,
        worker(
            "张敏",
            category="party-member",
            party_status="probationary",
            joined_party_date="2024-07-01",
        ),
    ).json
    league = _post(admin, members_url, worker("李张", category="league-member")).json
    plain = _post(admin, members_url, worker("王五")).json

    def ids(**query) -> set[str]:
        response = admin.get(members_url, query_string=query)
        assert response.status_code == 200, response.json
        return {m["id"] for m in response.json}

    assert ids() == {full["id"], probationary["id"], league["id"], plain["id"]}
    assert ids(category="party-member") == {full["id"], probationary["id"]}
    assert ids(category="league-member") == {league["id"]}
    assert ids(party_status="full") == {full["id"]}
    assert ids(party_status="probationary") == {probationary["id"]}
    assert ids(name="张") == {full["id"], probationary["id"], league["id"]}
    assert ids(name="张", category="worker") == set()
    assert ids(name="赵") == set()


def test_name_filter_treats_percent_and_underscore_literally(admin, members_url):
    percent = _post(admin, members_url, worker("百分%之百")).json
    underscore = _post(admin, members_url, worker("下划_线")).json
    backslash = _post(admin, members_url, worker("反斜\\杠")).json
    _post(admin, members_url, worker("普通名字"))

    def ids(name: str) -> list[str]:
        return [m["id"] for m in admin.get(members_url, query_string={"name": name}).json]

    assert ids("%") == [percent["id"]]
    assert ids("_") == [underscore["id"]]
    assert ids("\\") == [backslash["id"]]
    assert ids("%之") == [percent["id"]]


def test_list_is_ordered_by_name_and_paginated(admin, members_url):
    for name in ("丙", "甲", "乙"):
        _post(admin, members_url, worker(name))
    names = sorted(["丙", "甲", "乙"])

    first = admin.get(members_url, query_string={"page_size": 2})
    meta = json.loads(first.headers["X-Pagination"])
    assert meta == {
        "total": 3,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    assert [m["name"] for m in first.json] == names[:2]
    second = admin.get(members_url, query_string={"page_size": 2, "page": 2})
    assert [m["name"] for m in second.json] == names[2:]
    assert admin.get(members_url, query_string={"page": 10**20}).json == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page": 0}, "page"),
        ({"category": "cadre"}, "category"),
        ({"party_status": "expelled"}, "party_status"),
        ({"party_group_id": "not-a-uuid"}, "party_group_id"),
        ({"name": "a\x00b"}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_list_parameters_are_422_naming_them(admin, members_url, query, field):
    assert_error(admin.get(members_url, query_string=query), 422, field, location="query")


def test_page_size_up_to_100_is_accepted(admin, members_url):
    _post(admin, members_url, worker("唯一"))
    response = admin.get(members_url, query_string={"page_size": 100})
    assert response.status_code == 200
    assert len(response.json) == 1


# ETag / If-Match


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_stale_if_match_is_412_and_changes_nothing(admin, members_url, method):
    created = _post(admin, members_url, VALID_MEMBER)
    url = f"{members_url}/{created.json['id']}"
    changed = admin.patch(
        url, json={"position": "委员"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert changed.status_code == 200

    kwargs = {"json": {"position": "书记"}} if method == "patch" else {}
    response = getattr(admin, method)(url, headers={"If-Match": created.headers["ETag"]}, **kwargs)
    assert_error(response, 412)
    assert admin.get(url).json == changed.json


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_missing_if_match_is_428_and_changes_nothing(admin, members_url, method):
    created = _post(admin, members_url, VALID_MEMBER)
    url = f"{members_url}/{created.json['id']}"
    kwargs = {"json": {"position": "书记"}} if method == "patch" else {}
    assert_error(getattr(admin, method)(url, **kwargs), 428)
    assert admin.get(url).json == created.json


def test_etag_is_the_same_for_admin_and_member_reads(admin, as_groups, branch, members_url):
    created = _post(admin, members_url, VALID_MEMBER)
    url = f"{members_url}/{created.json['id']}"
    reader = branch_member_of(as_groups, branch)
    etag = reader.get(url).headers["ETag"]
    assert etag == created.headers["ETag"]
    assert admin.patch(url, json={"notes": "x"}, headers={"If-Match": etag}).status_code == 200


# the roster's rules: 422 naming the field, nothing written

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def empty_roster(app, issuer) -> tuple[Caller, str]:
    """A branch for refused creates, shared by them: each leaves it empty."""
    client = app.test_client()
    zone_admin = Caller(client, issuer.token(["pmsc:zone:admin"]))
    slug = zone_admin.post("/api/v1/zone/tenants", json=tenant_body()).json["slug"]
    admin = Caller(client, issuer.token([f"pmsc:branch:{slug}:admin"], lifetime=3600))
    return admin, f"/api/v1/t/{slug}/members"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {
                "category": "worker",
                "party_status": "full",
                "joined_party_date": None,
                "full_membership_date": None,
            },
            "party_status",
        ),
        ({"category": "league-member", "party_status": None}, "joined_party_date"),
        ({"party_status": None}, "party_status"),
        ({"party_status": "probationary"}, "full_membership_date"),
        ({"full_membership_date": "2008-06-30"}, "full_membership_date"),
        (
            {"joined_party_date": "2003-03-11", "full_membership_date": "2004-03-11"},
            "joined_party_date",
        ),
        ({"id_card_number": "320505198503121234"}, "id_card_number"),
        ({"id_card_number": "32050519850312123"}, "id_card_number"),
        ({"birth_date": "1985-03-13"}, "birth_date"),
        ({"gender": "female"}, "gender"),
        ({"phone": "12345678901"}, "phone"),
        ({"birth_date": TOMORROW, "id_card_number": None}, "birth_date"),
        ({"joined_party_date": TOMORROW, "full_membership_date": None}, "joined_party_date"),
        ({"party_group_id": str(uuid.uuid4())}, "party_group_id"),
        ({"name": None}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_member_breaking_a_rule_is_422_naming_the_field_and_not_created(
    empty_roster, changes, field
):
    admin, members_url = empty_roster
    body = {**VALID_MEMBER, **changes}
    assert_error(admin.post(members_url, json=body), 422, field)
    assert total(admin, members_url) == 0


def test_a_member_joining_on_their_18th_birthday_is_accepted(admin, members_url):
    body = {**VALID_MEMBER, "joined_party_date": "2003-03-12", "full_membership_date": "2004-03-12"}
    assert _post(admin, members_url, body).json["joined_party_date"] == "2003-03-12"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "worker"}, "party_status"),
        ({"party_status": "probationary"}, "full_membership_date"),
        ({"birth_date": "1986-03-12"}, "birth_date"),
        ({"id_card_number": id_card(date(1985, 3, 12), male=False)}, "gender"),
        ({"party_group_id": str(uuid.uuid4())}, "party_group_id"),
        ({"name": None}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_change_breaking_a_rule_is_422_naming_the_field_and_changes_nothing(
    admin, members_url, changes, field
):
    created = _post(admin, members_url, VALID_MEMBER)
    url = f"{members_url}/{created.json['id']}"
    response = admin.patch(url, json=changes, headers={"If-Match": created.headers["ETag"]})
    assert_error(response, 422, field)
    read = admin.get(url)
    assert read.json == created.json
    assert read.headers["ETag"] == created.headers["ETag"]


def test_a_party_group_of_another_branch_is_422_on_create_and_on_change(
    admin, members_url, make_branch, as_groups
):
    other = make_branch()
    foreign = _post(
        branch_admin_of(as_groups, other), f"/api/v1/t/{other.slug}/party-groups", {"name": "一组"}
    ).json
    body = {**VALID_MEMBER, "party_group_id": foreign["id"]}
    assert_error(admin.post(members_url, json=body), 422, "party_group_id")
    assert total(admin, members_url) == 0

    created = _post(admin, members_url, VALID_MEMBER)
    url = f"{members_url}/{created.json['id']}"
    response = admin.patch(
        url, json={"party_group_id": foreign["id"]}, headers={"If-Match": created.headers["ETag"]}
    )
    assert_error(response, 422, "party_group_id")
    assert admin.get(url).json == created.json


# branch members read, masked; only branch admins write


def test_branch_member_reads_the_roster_masked(admin, as_groups, branch, members_url):
    created = _post(admin, members_url, VALID_MEMBER).json
    reader = branch_member_of(as_groups, branch)

    listed = reader.get(members_url)
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json] == [created["id"]]
    for shown in (listed.json[0], reader.get(f"{members_url}/{created['id']}").json):
        assert shown["id_card_number"] == "320***********1235"
        assert shown["phone"] == "138****5678"
        assert shown["name"] == VALID_MEMBER["name"]
        assert VALID_MEMBER["id_card_number"] not in json.dumps(shown)
        assert VALID_MEMBER["phone"] not in json.dumps(shown)


def test_branch_member_cannot_write(admin, as_groups, branch, members_url, groups_url):
    created = _post(admin, members_url, VALID_MEMBER)
    group = _post(admin, groups_url, {"name": "一组"})
    url = f"{members_url}/{created.json['id']}"
    group_url = f"{groups_url}/{group.json['id']}"
    reader = branch_member_of(as_groups, branch)

    assert_error(reader.post(members_url, json=worker("赵六")), 403)
    assert_error(
        reader.patch(url, json={"name": "改名"}, headers={"If-Match": created.headers["ETag"]}), 403
    )
    assert_error(reader.delete(url, headers={"If-Match": created.headers["ETag"]}), 403)
    assert_error(reader.post(groups_url, json={"name": "二组"}), 403)
    assert_error(
        reader.patch(group_url, json={"name": "改"}, headers={"If-Match": group.headers["ETag"]}),
        403,
    )
    assert_error(reader.delete(group_url, headers={"If-Match": group.headers["ETag"]}), 403)

    assert admin.get(url).json == created.json
    assert total(admin, members_url) == 1
    assert [g["name"] for g in admin.get(groups_url).json] == ["一组"]
    assert reader.get(groups_url).status_code == 200


# party groups


def test_party_group_round_trip_and_member_counts(admin, members_url, groups_url):
    created = _post(admin, groups_url, {"name": "第一党小组", "notes": "研发中心"})
    assert created.headers["ETag"]
    assert created.json["member_count"] == 0
    url = f"{groups_url}/{created.json['id']}"
    assert admin.get(url).json["name"] == "第一党小组"

    _post(admin, members_url, {**VALID_MEMBER, "party_group_id": created.json["id"]})
    assert [(g["name"], g["member_count"]) for g in admin.get(groups_url).json] == [
        ("第一党小组", 1)
    ]

    renamed = admin.patch(
        url, json={"name": "研发党小组"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert renamed.status_code == 200
    assert renamed.json["name"] == "研发党小组"
    assert renamed.json["notes"] == "研发中心"
    assert_error(
        admin.patch(url, json={"notes": "x"}, headers={"If-Match": created.headers["ETag"]}), 412
    )
    assert_error(admin.delete(url), 428)


def test_members_filter_by_party_group(admin, members_url, groups_url):
    first = _post(admin, groups_url, {"name": "一组"}).json
    second = _post(admin, groups_url, {"name": "二组"}).json
    in_first = _post(admin, members_url, worker("甲", party_group_id=first["id"])).json
    _post(admin, members_url, worker("乙", party_group_id=second["id"]))
    _post(admin, members_url, worker("丙"))

    listed = admin.get(members_url, query_string={"party_group_id": first["id"]})
    assert [m["id"] for m in listed.json] == [in_first["id"]]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    assert total(admin, members_url, party_group_id=str(uuid.uuid4())) == 0


def test_party_group_names_are_unique_in_a_branch(admin, groups_url, make_branch, as_groups):
    _post(admin, groups_url, {"name": "一组"})
    second = _post(admin, groups_url, {"name": "二组"})

    assert_error(admin.post(groups_url, json={"name": "一组"}), 409)
    assert_error(admin.post(groups_url, json={"name": " 一组 "}), 409)
    rename = admin.patch(
        f"{groups_url}/{second.json['id']}",
        json={"name": "一组"},
        headers={"If-Match": second.headers["ETag"]},
    )
    assert_error(rename, 409)
    assert sorted(g["name"] for g in admin.get(groups_url).json) == sorted(["一组", "二组"])

    other = make_branch()  # another branch may use the same name
    _post(
        branch_admin_of(as_groups, other), f"/api/v1/t/{other.slug}/party-groups", {"name": "一组"}
    )


def test_a_party_group_with_members_cannot_be_deleted(admin, members_url, groups_url):
    group = _post(admin, groups_url, {"name": "一组"})
    url = f"{groups_url}/{group.json['id']}"
    member = _post(admin, members_url, worker("甲", party_group_id=group.json["id"]))

    response = admin.delete(url, headers={"If-Match": group.headers["ETag"]})
    assert "member" in assert_error(response, 409)["message"]
    assert admin.get(url).status_code == 200

    moved = admin.patch(
        f"{members_url}/{member.json['id']}",
        json={"party_group_id": None},
        headers={"If-Match": member.headers["ETag"]},
    )
    assert moved.status_code == 200
    assert admin.delete(url, headers={"If-Match": group.headers["ETag"]}).status_code == 204
    assert_error(admin.get(url), 404)
    assert admin.get(groups_url).json == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": None}, "name"),
        ({"name": "组" * 61}, "name"),
        ({"name": "一组", "notes": "注" * 1001}, "notes"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_bad_party_group_is_422_naming_the_field_and_not_created(admin, groups_url, body, field):
    assert_error(admin.post(groups_url, json=body), 422, field)
    assert admin.get(groups_url).json == []


# the zone's rollups


def test_roster_writes_that_change_the_counts_ask_for_the_branch_recompute(
    admin, branch, members_url, outbox
):
    key = ("rollups.recompute_branch", "rollups", f"rollups:{branch.id}")
    created = _post(admin, members_url, worker("王芳"))
    assert outbox(branch) == [key]
    url = f"{members_url}/{created.json['id']}"

    renamed = admin.patch(
        url, json={"name": "王芳芳"}, headers={"If-Match": created.headers["ETag"]}
    )
    assert renamed.status_code == 200
    assert outbox(branch) == [key]  # a name is not counted by any figure

    moved = admin.patch(
        url, json={"category": "league-member"}, headers={"If-Match": renamed.headers["ETag"]}
    )
    assert moved.status_code == 200, moved.json
    assert outbox(branch) == [key] * 2

    assert_error(admin.patch(url, json={"category": "x"}, headers={"If-Match": "*"}), 422)
    assert admin.delete(url, headers={"If-Match": moved.headers["ETag"]}).status_code == 204
    assert outbox(branch) == [key] * 3


def test_a_refused_member_records_no_rollup_message(admin, branch, members_url, outbox):
    assert_error(admin.post(members_url, json={**VALID_MEMBER, "gender": "x"}), 422, "gender")
    assert outbox(branch) == []
