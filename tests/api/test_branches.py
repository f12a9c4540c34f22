"""The zone's register of branches, `/api/v1/zone/tenants`: who may read and write it, its
validation (every refused write changes nothing), ETags, suspension and archiving as a branch's
space sees them, and the zone audit log of every change."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.api.helpers import assert_error, tenant_body, total, worker
from tests.conftest import branch_admin_of

TENANTS = "/api/v1/zone/tenants"
ZONE_AUDIT = "/api/v1/zone/audit"


def _create(caller, **overrides) -> dict:
    response = caller.post(TENANTS, json=tenant_body(**overrides))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _read(caller, slug: str):
    response = caller.get(f"{TENANTS}/{slug}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


# creating, reading, listing


def test_zone_admin_creates_an_active_branch_and_gets_its_etag(zone_admin):
    body = tenant_body(organization_type="general-branch", enterprise_type="joint-venture")
    response = zone_admin.post(TENANTS, json=body)
    assert response.status_code == 201, response.json
    assert response.headers["ETag"]
    created = response.json
    assert {k: created[k] for k in body} == body
    assert created["status"] == "active"
    assert uuid.UUID(created["id"])
    assert created["version"] == 1
    assert created["created_at"] and created["updated_at"]

    read = _read(zone_admin, body["slug"])
    assert read.json == created
    assert read.headers["ETag"] == response.headers["ETag"]


def test_creating_a_branch_opens_its_space_at_once(zone_admin, as_groups):
    slug = _create(zone_admin)["slug"]
    admin = as_groups(f"pmsc:branch:{slug}:admin")
    assert admin.get(f"/api/v1/t/{slug}/members").status_code == 200
    assert admin.post(f"/api/v1/t/{slug}/members", json=worker("李娜")).status_code == 201


def test_unknown_branch_is_404_in_the_error_shape(zone_admin):
    response = zone_admin.get(f"{TENANTS}/no-such-branch-{uuid.uuid4().hex[:8]}")
    assert "no-such-branch" in assert_error(response, 404)["message"]


def test_list_is_paginated_by_slug_with_an_x_pagination_header(zone_admin):
    industry = f"ind-{uuid.uuid4().hex[:8]}"
    slugs = sorted(_create(zone_admin, industry=industry)["slug"] for _ in range(3))

    first = zone_admin.get(TENANTS, query_string={"industry": industry, "page_size": 2})
    assert first.status_code == 200
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["total"] == 3
    assert meta["total_pages"] == 2
    assert meta["next_page"] == 2
    assert [t["slug"] for t in first.json] == slugs[:2]

    second = zone_admin.get(TENANTS, query_string={"industry": industry, "page_size": 2, "page": 2})
    assert [t["slug"] for t in second.json] == slugs[2:]


@pytest.mark.parametrize("page_size", [0, 101, "ten"])
def test_page_size_outside_1_to_100_is_422(zone_admin, page_size):
    response = zone_admin.get(TENANTS, query_string={"page_size": page_size})
    assert_error(response, 422, "page_size", location="query")


def test_a_page_far_past_the_end_is_empty_not_an_error(zone_admin):
    response = zone_admin.get(TENANTS, query_string={"page": 10**20})
    assert response.status_code == 200
    assert response.json == []


def test_list_filters_by_status_enterprise_type_industry_and_name(zone_admin):
    industry = f"ind-{uuid.uuid4().hex[:8]}"
    token = uuid.uuid4().hex[:6]
    private = _create(zone_admin, industry=industry, name=f"甲{token}党支部")
    foreign = _create(
        zone_admin, industry=industry, enterprise_type="foreign-funded", enterprise_name="乙公司"
    )
    suspended = _create(zone_admin, industry=industry, enterprise_name=f"丙{token}有限公司")
    etag = _read(zone_admin, suspended["slug"]).headers["ETag"]
    assert (
        zone_admin.patch(
            f"{TENANTS}/{suspended['slug']}",
            json={"status": "suspended"},
            headers={"If-Match": etag},
        ).status_code
        == 200
    )

    def slugs(**query) -> set[str]:
        response = zone_admin.get(TENANTS, query_string={"industry": industry, **query})
        assert response.status_code == 200, response.json
        return {t["slug"] for t in response.json}

    assert slugs() == {private["slug"], foreign["slug"], suspended["slug"]}
    assert slugs(status="suspended") == {suspended["slug"]}
    assert slugs(status="active") == {private["slug"], foreign["slug"]}
    assert slugs(enterprise_type="foreign-funded") == {foreign["slug"]}
    # q matches the branch's name or its enterprise's name
    assert slugs(q=token) == {private["slug"], suspended["slug"]}
    assert slugs(q="乙公") == {foreign["slug"]}
    assert total(zone_admin, TENANTS, industry=f"{industry}-none") == 0


def test_name_filter_treats_percent_and_underscore_literally(zone_admin):
    industry = f"ind-{uuid.uuid4().hex[:8]}"
    percent = _create(zone_admin, industry=industry, name="百分之100%党支部")
    underscore = _create(zone_admin, industry=industry, name="下划_线党支部")
    _create(zone_admin, industry=industry, name="普通党支部")

    def slugs(q: str) -> list[str]:
        return [
            t["slug"]
            for t in zone_admin.get(TENANTS, query_string={"industry": industry, "q": q}).json
        ]

    assert slugs("%") == [percent["slug"]]
    assert slugs("_") == [underscore["slug"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [({"status": "deleted"}, "status"), ({"enterprise_type": "state"}, "enterprise_type")],
)
def test_bad_list_filters_are_422_naming_the_filter(zone_admin, query, field):
    assert_error(zone_admin.get(TENANTS, query_string=query), 422, field, location="query")


# changing


def test_patch_with_the_current_etag_changes_the_branch_and_its_etag(zone_admin):
    created = zone_admin.post(TENANTS, json=tenant_body())
    slug = created.json["slug"]
    response = zone_admin.patch(
        f"{TENANTS}/{slug}",
        json={
            "employee_count": 300,
            "name": "星河科技党总支",
            "organization_type": "general-branch",
        },
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.json
    assert response.json["employee_count"] == 300
    assert response.json["name"] == "星河科技党总支"
    assert response.json["organization_type"] == "general-branch"
    assert response.json["version"] == 2
    assert response.headers["ETag"] != created.headers["ETag"]
    assert _read(zone_admin, slug).json == response.json


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(zone_admin):
    created = zone_admin.post(TENANTS, json=tenant_body())
    slug = created.json["slug"]
    stale = created.headers["ETag"]
    fresh = zone_admin.patch(
        f"{TENANTS}/{slug}", json={"employee_count": 7}, headers={"If-Match": stale}
    )
    assert fresh.status_code == 200

    response = zone_admin.patch(
        f"{TENANTS}/{slug}", json={"employee_count": 9}, headers={"If-Match": stale}
    )
    assert_error(response, 412)
    assert _read(zone_admin, slug).json == fresh.json


def test_patch_without_if_match_is_428_and_changes_nothing(zone_admin):
    created = _create(zone_admin)
    response = zone_admin.patch(f"{TENANTS}/{created['slug']}", json={"employee_count": 9})
    assert_error(response, 428)
    assert _read(zone_admin, created["slug"]).json == created


def test_slug_cannot_be_changed(zone_admin):
    created = zone_admin.post(TENANTS, json=tenant_body())
    slug = created.json["slug"]
    new_slug = f"n-{uuid.uuid4().hex[:10]}"
    response = zone_admin.patch(
        f"{TENANTS}/{slug}", json={"slug": new_slug}, headers={"If-Match": created.headers["ETag"]}
    )
    assert_error(response, 422, "slug")
    assert _read(zone_admin, slug).json == created.json
    assert zone_admin.get(f"{TENANTS}/{new_slug}").status_code == 404


# who may


def test_zone_viewer_reads_the_register_but_cannot_write_it(zone_admin, zone_viewer):
    created = zone_admin.post(TENANTS, json=tenant_body())
    slug = created.json["slug"]
    assert zone_viewer.get(TENANTS).status_code == 200
    assert _read(zone_viewer, slug).json == created.json
    before = total(zone_admin, TENANTS)

    assert_error(zone_viewer.post(TENANTS, json=tenant_body()), 403)
    response = zone_viewer.patch(
        f"{TENANTS}/{slug}",
        json={"status": "archived"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert_error(response, 403)
    assert total(zone_admin, TENANTS) == before
    assert _read(zone_admin, slug).json == created.json


def test_branch_admin_is_403_on_every_zone_endpoint(zone_admin, make_branch, as_groups):
    branch = make_branch()
    admin = branch_admin_of(as_groups, branch)
    etag = _read(zone_admin, branch.slug).headers["ETag"]
    before = total(zone_admin, TENANTS)

    assert_error(admin.get(TENANTS), 403)
    assert_error(admin.get(f"{TENANTS}/{branch.slug}"), 403)
    assert_error(admin.post(TENANTS, json=tenant_body()), 403)
    assert_error(
        admin.patch(
            f"{TENANTS}/{branch.slug}", json={"status": "archived"}, headers={"If-Match": etag}
        ),
        403,
    )
    assert_error(admin.get(ZONE_AUDIT), 403)
    assert total(zone_admin, TENANTS) == before
    assert _read(zone_admin, branch.slug).json["status"] == "active"


def test_zone_endpoints_need_a_token(client):
    response = client.get(TENANTS)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# refused input: 4xx naming the field, nothing written


def test_duplicate_slug_is_409_naming_slug_and_writes_nothing(zone_admin):
    created = _create(zone_admin)
    before = total(zone_admin, TENANTS)
    response = zone_admin.post(TENANTS, json=tenant_body(slug=created["slug"], name="另一个"))
    assert_error(response, 409, "slug")
    assert total(zone_admin, TENANTS) == before
    assert _read(zone_admin, created["slug"]).json == created


BAD_SLUGS = {
    "uppercase": "Upper-Case",
    "too-short": "ab",
    "41-chars": "a" * 41,
    "leading-dash": "-leading",
    "trailing-dash": "trailing-",
    "space": "with space",
    "chinese": "党支部",
    "dot": "dot.ted",
}


@pytest.mark.parametrize("slug", BAD_SLUGS.values(), ids=BAD_SLUGS.keys())
def test_bad_slug_is_422_naming_slug_and_writes_nothing(zone_admin, slug):
    before = total(zone_admin, TENANTS)
    assert_error(zone_admin.post(TENANTS, json=tenant_body(slug=slug)), 422, "slug")
    assert total(zone_admin, TENANTS) == before


def test_slugs_of_3_and_40_characters_are_accepted(zone_admin):
    token = uuid.uuid4().hex
    assert _create(zone_admin, slug=token[:3])["slug"] == token[:3]
    long_slug = (token + token)[:40]
    assert _create(zone_admin, slug=long_slug)["slug"] == long_slug


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"founded": "2020-01-01"}, "founded"),
        ({"version": 5}, "version"),
        ({"employee_count": -1}, "employee_count"),
        ({"employee_count": 12.5}, "employee_count"),
        ({"employee_count": "12"}, "employee_count"),
        ({"enterprise_type": "state-owned"}, "enterprise_type"),
        ({"organization_type": "cell"}, "organization_type"),
        ({"status": "deleted"}, "status"),
        ({"name": "党" * 121}, "name"),
        ({"name": "   "}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_field_on_create_is_422_naming_it_and_writes_nothing(zone_admin, changes, field):
    before = total(zone_admin, TENANTS)
    audit_before = total(zone_admin, ZONE_AUDIT)
    body = tenant_body(**changes)
    assert_error(zone_admin.post(TENANTS, json=body), 422, field)
    assert total(zone_admin, TENANTS) == before
    assert total(zone_admin, ZONE_AUDIT) == audit_before


def test_missing_required_fields_on_create_are_422_naming_each(zone_admin):
    before = total(zone_admin, TENANTS)
    body = assert_error(zone_admin.post(TENANTS, json={"status": "active"}), 422)
    required = {
        "slug",
        "name",
        "enterprise_name",
        "enterprise_type",
        "industry",
        "employee_count",
        "organization_type",
    }
    assert set(body["errors"]["json"]) == required
    assert all(field in body["message"] for field in required)
    assert total(zone_admin, TENANTS) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"founded": "2020-01-01"}, "founded"),
        ({"employee_count": -5}, "employee_count"),
        ({"employee_count": "many"}, "employee_count"),
        ({"status": "closed"}, "status"),
        ({"name": None}, "name"),
        ({"name": "党" * 121}, "name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_field_on_patch_is_422_naming_it_and_changes_nothing(zone_admin, changes, field):
    created = zone_admin.post(TENANTS, json=tenant_body())
    slug = created.json["slug"]
    audit_before = total(zone_admin, ZONE_AUDIT)
    response = zone_admin.patch(
        f"{TENANTS}/{slug}", json=changes, headers={"If-Match": created.headers["ETag"]}
    )
    assert_error(response, 422, field)
    read = _read(zone_admin, slug)
    assert read.json == created.json
    assert read.headers["ETag"] == created.headers["ETag"]
    assert total(zone_admin, ZONE_AUDIT) == audit_before


# suspended, archived, reactivated: what the branch's own space answers


def _set_status(zone_admin, slug: str, status: str) -> None:
    etag = _read(zone_admin, slug).headers["ETag"]
    response = zone_admin.patch(
        f"{TENANTS}/{slug}", json={"status": status}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == status


def test_suspended_branch_space_is_403_with_a_message_for_its_admin(
    zone_admin, make_branch, as_groups
):
    branch = make_branch()
    admin = branch_admin_of(as_groups, branch)
    members = f"/api/v1/t/{branch.slug}/members"
    assert admin.post(members, json=worker("王芳")).status_code == 201
    _set_status(zone_admin, branch.slug, "suspended")

    for response in (
        admin.get(members),
        admin.post(members, json=worker("赵磊")),
        admin.get(f"/api/v1/t/{branch.slug}/party-groups"),
        admin.get(f"/api/v1/t/{branch.slug}/audit"),
    ):
        assert "suspended" in assert_error(response, 403)["message"]

    _set_status(zone_admin, branch.slug, "active")
    assert total(admin, members) == 1  # the refused POST wrote nothing


def test_archived_branch_is_read_only(zone_admin, make_branch, as_groups):
    branch = make_branch()
    admin = branch_admin_of(as_groups, branch)
    members = f"/api/v1/t/{branch.slug}/members"
    created = admin.post(members, json=worker("孙丽"))
    member_url = f"{members}/{created.json['id']}"
    etag = {"If-Match": created.headers["ETag"]}
    _set_status(zone_admin, branch.slug, "archived")

    assert admin.get(members).status_code == 200
    assert admin.get(member_url).json == created.json
    for response in (
        admin.post(members, json=worker("周强")),
        admin.patch(member_url, json={"name": "孙莉"}, headers=etag),
        admin.delete(member_url, headers=etag),
        admin.post(f"/api/v1/t/{branch.slug}/party-groups", json={"name": "第一党小组"}),
    ):
        assert "archived" in assert_error(response, 403)["message"]
    assert admin.get(member_url).json == created.json
    assert total(admin, members) == 1


def test_reactivated_branch_space_works_again(zone_admin, make_branch, as_groups):
    branch = make_branch()
    admin = branch_admin_of(as_groups, branch)
    members = f"/api/v1/t/{branch.slug}/members"
    _set_status(zone_admin, branch.slug, "suspended")
    assert admin.get(members).status_code == 403
    _set_status(zone_admin, branch.slug, "archived")
    assert admin.post(members, json=worker("吴敏")).status_code == 403
    _set_status(zone_admin, branch.slug, "active")
    assert admin.post(members, json=worker("吴敏")).status_code == 201
    assert total(admin, members) == 1


# the zone audit log


def _zone_events(caller, object_id: str) -> list[dict]:
    response = caller.get(ZONE_AUDIT, query_string={"object_id": object_id, "page_size": 100})
    assert response.status_code == 200, response.json
    return response.json


def test_creating_and_changing_a_branch_is_in_the_zone_audit_log(as_groups, zone_viewer):
    admin = as_groups("pmsc:zone:admin", subject="zone-admin-1", name="区党工委 王主任")
    created = admin.post(TENANTS, json=tenant_body(employee_count=80))
    tenant_id = created.json["id"]
    changed = admin.patch(
        f"{TENANTS}/{created.json['slug']}",
        json={"employee_count": 95, "status": "suspended", "industry": created.json["industry"]},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200

    update, create = _zone_events(admin, tenant_id)  # newest first
    assert create["action"] == "create"
    assert create["object_type"] == "tenants"
    assert create["object_id"] == tenant_id
    assert create["actor"]["subject"] == "zone-admin-1"
    assert create["actor"]["name"] == "区党工委 王主任"
    assert create["actor"]["issuer"]
    assert create["changes"]["slug"] == {"before": None, "after": created.json["slug"]}
    assert create["changes"]["status"] == {"before": None, "after": "active"}
    assert create["changes"]["employee_count"] == {"before": None, "after": 80}

    assert update["action"] == "update"
    # only what changed: industry was sent unchanged, so it is not there
    assert update["changes"] == {
        "employee_count": {"before": 80, "after": 95},
        "status": {"before": "active", "after": "suspended"},
    }
    assert update["occurred_at"] >= create["occurred_at"]

    assert_error(zone_viewer.get(ZONE_AUDIT), 403)


def test_refused_branch_writes_leave_no_zone_audit_event(zone_admin):
    created = zone_admin.post(TENANTS, json=tenant_body())
    tenant_id = created.json["id"]
    url = f"{TENANTS}/{created.json['slug']}"
    stale = {"If-Match": created.headers["ETag"]}
    assert zone_admin.patch(url, json={"employee_count": 1}, headers=stale).status_code == 200
    assert zone_admin.patch(url, json={"employee_count": 2}, headers=stale).status_code == 412
    assert zone_admin.patch(url, json={"employee_count": 3}).status_code == 428
    assert zone_admin.post(TENANTS, json=tenant_body(slug=created.json["slug"])).status_code == 409
    assert zone_admin.post(TENANTS, json=tenant_body(employee_count=-1)).status_code == 422
    events = _zone_events(zone_admin, tenant_id)
    assert [e["action"] for e in events] == ["update", "create"]
    assert events[0]["changes"] == {"employee_count": {"before": 120, "after": 1}}
