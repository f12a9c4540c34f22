"""Grants, API tokens and browser sessions, end to end through the HTTP API.

Grants: the working committee finds accounts and grants branch roles, which count at once for a
caller whose provider sends no groups (effective roles = groups ∪ grants) and stop at the very
next request after a revoke, for bearer callers and live browser sessions alike; a branch admin
grants and revokes only the member role, only in its own branch; bad requests are 409 or 422
naming the field; every grant and revoke is in the branch's audit log with its actor.

API tokens: the secret is shown once and stored hashed; `read` reads masked, `read-write` writes
and reads in clear; one branch only; expiry bounded; revoked, expired, forged or malformed tokens
are 401 with a challenge, never 500; creation and revocation are audited with the hash masked.

Sessions: a cookie write needs the session's CSRF token (bearer calls need none); idle and
expired sessions are 401 and gone. Isolation: every new endpoint, branch A against branch B.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from service.access import service as access
from service.access.models import ApiToken, UserSession
from service.database import db
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.orm import utcnow
from tests.api.helpers import assert_error, total, worker
from tests.conftest import VALID_MEMBER, Caller, branch_admin_of, branch_member_of

MASKED_PHONE = "138****5678"
MASKED_ID_CARD = "320***********1235"


@dataclass
class Branch:
    tenant: object
    admin: Caller

    @property
    def slug(self) -> str:
        return self.tenant.slug

    def url(self, rest: str = "") -> str:
        return f"/api/v1/t/{self.slug}{rest}"

    def zone_grants(self, rest: str = "") -> str:
        return f"/api/v1/zone/tenants/{self.slug}/grants{rest}"


@pytest.fixture
def a(make_branch, as_groups) -> Branch:
    tenant = make_branch()
    return Branch(tenant, branch_admin_of(as_groups, tenant))


@pytest.fixture
def b(make_branch, as_groups) -> Branch:
    tenant = make_branch()
    return Branch(tenant, branch_admin_of(as_groups, tenant))


@pytest.fixture
def person(issuer, make_account, as_groups):
    """Someone who signed in once, whose provider sends no groups: (account, bearer caller)."""
    subject = f"groupless-{uuid.uuid4().hex[:8]}"
    user = make_account(issuer=issuer.url, subject=subject, name="李娜")
    return user, as_groups(subject=subject, name="李娜")


def _created(response) -> dict:
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def _grant(caller, url: str, user, role: str = "branch:member", by: str = "user_id") -> dict:
    account = str(user.id) if by == "user_id" else user.username
    return _created(caller.post(url, json={by: account, "role": role}))


def _slugs(me) -> list[str]:
    assert me.status_code == 200, me.json
    return [branch["slug"] for branch in me.json["branches"]]


def _audit(caller, branch: Branch, object_type: str) -> list[dict]:
    response = caller.get(
        branch.url("/audit"), query_string={"object_type": object_type, "page_size": 100}
    )
    assert response.status_code == 200, response.json
    return response.json


# --- accounts ------------------------------------------------------------------------------------


def test_zone_admin_finds_accounts_by_name_username_or_email(zone_admin, make_account):
    handle = uuid.uuid4().hex[:10]
    found = make_account(
        name=f"周敏{handle}", username=f"zm-{handle}", email=f"zm-{handle}@example.cn"
    )
    make_account(name="别人")
    for q in (f"周敏{handle}", f"zm-{handle}", f"{handle}@example"):
        response = zone_admin.get("/api/v1/zone/users", query_string={"q": q})
        assert response.status_code == 200, response.json
        assert [u["id"] for u in response.json] == [str(found.id)], q
        assert json.loads(response.headers["X-Pagination"])["total"] == 1
    (account,) = zone_admin.get("/api/v1/zone/users", query_string={"q": handle}).json
    assert set(account) == {"id", "name", "username", "email", "last_sign_in_at"}


def test_account_search_treats_like_wildcards_literally(zone_admin, make_account):
    percent = make_account(name=f"百分之百%{uuid.uuid4().hex[:6]}")
    make_account(name=f"普通{uuid.uuid4().hex[:6]}")
    response = zone_admin.get("/api/v1/zone/users", query_string={"q": "%", "page_size": 100})
    assert response.status_code == 200
    assert str(percent.id) in [u["id"] for u in response.json]
    assert all("%" in f"{u['name']}{u['username']}{u['email']}" for u in response.json)


def test_zone_viewer_and_branch_admin_cannot_list_accounts(zone_viewer, a):
    assert_error(zone_viewer.get("/api/v1/zone/users"), 403)
    assert_error(a.admin.get("/api/v1/zone/users"), 403)


# --- grants by the working committee ----------------------------------------------------------


def test_zone_grant_of_branch_admin_opens_the_branch_to_a_caller_without_groups(
    zone_admin, a, person
):
    user, caller = person
    assert_error(caller.get(a.url("/members")), 404)
    assert _slugs(caller.get("/api/v1/me")) == []

    grant = _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    assert grant["role"] == "branch:admin"
    assert grant["user"]["id"] == str(user.id)
    assert grant["user"]["name"] == "李娜"
    assert grant["granted_by"].startswith("测试用户 (")  # the zone admin's name and subject

    # effective roles = groups ∪ grants: the groupless caller now reads and writes A
    created = _created(caller.post(a.url("/members"), json=VALID_MEMBER))
    assert created["id_card_number"] == VALID_MEMBER["id_card_number"]  # an admin sees it clear
    assert caller.get(a.url("/members")).status_code == 200
    assert caller.get(a.url("/grants")).status_code == 200
    me = caller.get("/api/v1/me")
    assert me.json["branches"] == [
        {"slug": a.slug, "name": a.tenant.name, "status": "active", "roles": ["branch:admin"]}
    ]
    listed = zone_admin.get(a.zone_grants()).json
    assert [(g["id"], g["role"]) for g in listed] == [(grant["id"], "branch:admin")]

    revoked = zone_admin.delete(a.zone_grants(f"/{grant['id']}"))
    assert revoked.status_code == 204
    # the very next request
    assert_error(caller.get(a.url("/members")), 404)
    assert_error(caller.post(a.url("/members"), json=worker("不该写入")), 404)
    assert _slugs(caller.get("/api/v1/me")) == []
    assert zone_admin.get(a.zone_grants()).json == []
    assert total(a.admin, a.url("/members")) == 1


def test_grant_adds_to_the_roles_from_groups(zone_admin, a, issuer, make_account, as_groups):
    subject = f"member-{uuid.uuid4().hex[:8]}"
    user = make_account(issuer=issuer.url, subject=subject)
    caller = as_groups(f"pmsc:branch:{a.slug}:member", subject=subject)
    assert_error(caller.post(a.url("/members"), json=worker("成员")), 403)
    _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    assert caller.post(a.url("/members"), json=worker("成员")).status_code == 201
    (space,) = caller.get("/api/v1/me").json["branches"]
    assert space["roles"] == ["branch:admin", "branch:member"]


def test_a_grant_in_one_branch_opens_nothing_in_another(zone_admin, a, b, person):
    user, caller = person
    _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    assert caller.get(a.url("/members")).status_code == 200
    for path in ("/members", "/grants", "/api-tokens", "/audit"):
        assert_error(caller.get(b.url(path)), 404)
    assert_error(caller.get("/api/v1/zone/tenants"), 403)
    assert _slugs(caller.get("/api/v1/me")) == [a.slug]


def test_revoke_ends_the_role_at_the_next_request_of_a_live_browser_session(
    app, zone_admin, a, person
):
    user, _bearer = person
    grant = _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    browser = signed_in(app, user)

    me = browser.get("/api/v1/me")
    assert _slugs(me) == [a.slug]
    assert me.json["csrf_token"] == browser.csrf
    assert browser.get(a.url("/members")).status_code == 200
    assert browser.post(a.url("/members"), json=worker("浏览器"), csrf=True).status_code == 201

    assert zone_admin.delete(a.zone_grants(f"/{grant['id']}")).status_code == 204
    assert_error(browser.get(a.url("/members")), 404)
    assert_error(browser.post(a.url("/members"), json=worker("晚了"), csrf=True), 404)
    assert _slugs(browser.get("/api/v1/me")) == []  # still signed in, with no space


def test_zone_grants_of_an_unknown_branch_are_404(zone_admin, person):
    user, _ = person
    url = f"/api/v1/zone/tenants/no-such-{uuid.uuid4().hex[:6]}/grants"
    assert_error(zone_admin.get(url), 404)
    assert_error(zone_admin.post(url, json={"user_id": str(user.id), "role": "branch:admin"}), 404)
    assert_error(zone_admin.delete(f"{url}/{uuid.uuid4()}"), 404)


def test_zone_viewer_cannot_grant_or_revoke(zone_admin, zone_viewer, a, person):
    user, _ = person
    grant = _grant(zone_admin, a.zone_grants(), user)
    body = {"user_id": str(user.id), "role": "branch:admin"}
    assert_error(zone_viewer.get(a.zone_grants()), 403)
    assert_error(zone_viewer.post(a.zone_grants(), json=body), 403)
    assert_error(zone_viewer.delete(a.zone_grants(f"/{grant['id']}")), 403)
    assert len(zone_admin.get(a.zone_grants()).json) == 1


# --- grants by a branch admin --------------------------------------------------------------------


def test_branch_admin_grants_and_revokes_the_member_role_by_username(a, person):
    user, caller = person
    a.admin.post(a.url("/members"), json=VALID_MEMBER)
    grant = _grant(a.admin, a.url("/grants"), user, by="username")
    assert grant["role"] == "branch:member"
    assert [g["id"] for g in a.admin.get(a.url("/grants")).json] == [grant["id"]]

    listed = caller.get(a.url("/members"))
    assert listed.status_code == 200
    assert listed.json[0]["phone"] == MASKED_PHONE  # a member reads masked
    assert_error(caller.post(a.url("/members"), json=worker("成员不能写")), 403)
    assert_error(caller.get(a.url("/grants")), 403)

    assert a.admin.delete(a.url(f"/grants/{grant['id']}")).status_code == 204
    assert_error(caller.get(a.url("/members")), 404)
    assert a.admin.get(a.url("/grants")).json == []


def test_branch_admin_may_also_name_the_account_by_email(a, make_account, issuer):
    handle = uuid.uuid4().hex[:8]
    user = make_account(username=None, email=f"{handle}@example.cn")
    made = _created(
        a.admin.post(a.url("/grants"), json={"username": user.email, "role": "branch:member"})
    )
    assert made["user"]["id"] == str(user.id)


def test_branch_admin_cannot_grant_the_admin_role(a, person):
    user, caller = person
    for by in ("user_id", "username"):
        account = str(user.id) if by == "user_id" else user.username
        response = a.admin.post(a.url("/grants"), json={by: account, "role": "branch:admin"})
        assert_error(response, 403)
    assert a.admin.get(a.url("/grants")).json == []
    assert_error(caller.get(a.url("/members")), 404)


def test_branch_admin_cannot_revoke_an_admin_grant(zone_admin, a, person):
    user, caller = person
    grant = _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    assert_error(a.admin.delete(a.url(f"/grants/{grant['id']}")), 403)
    assert caller.post(a.url("/members"), json=worker("仍是管理员")).status_code == 201
    assert [g["id"] for g in a.admin.get(a.url("/grants")).json] == [grant["id"]]


def test_branch_member_cannot_grant(a, as_groups, person):
    user, _ = person
    member = branch_member_of(as_groups, a.tenant)
    body = {"user_id": str(user.id), "role": "branch:member"}
    assert_error(member.post(a.url("/grants"), json=body), 403)
    assert_error(member.get(a.url("/grants")), 403)


def test_duplicate_grant_is_a_conflict(zone_admin, a, person):
    user, _ = person
    _grant(a.admin, a.url("/grants"), user)
    body = {"user_id": str(user.id), "role": "branch:member"}
    assert_error(a.admin.post(a.url("/grants"), json=body), 409)
    assert_error(zone_admin.post(a.zone_grants(), json=body), 409)
    # a different role for the same account is no duplicate
    _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    assert len(a.admin.get(a.url("/grants")).json) == 2


@pytest.mark.parametrize("by", ["user_id", "username"])
def test_unknown_account_is_422_naming_the_field(zone_admin, a, by):
    unknown = str(uuid.uuid4()) if by == "user_id" else f"nobody-{uuid.uuid4().hex[:6]}"
    body = {by: unknown, "role": "branch:member"}
    assert_error(a.admin.post(a.url("/grants"), json=body), 422, field=by)
    assert_error(zone_admin.post(a.zone_grants(), json=body), 422, field=by)
    assert a.admin.get(a.url("/grants")).json == []


@pytest.mark.parametrize("names", [(), ("user_id", "username")], ids=["neither", "both"])
def test_grant_needs_exactly_one_of_user_id_and_username(zone_admin, a, person, names):
    user, _ = person
    account = {"user_id": str(user.id), "username": user.username}
    body = {"role": "branch:member", **{name: account[name] for name in names}}
    assert_error(zone_admin.post(a.zone_grants(), json=body), 422, field="user_id")
    assert_error(a.admin.post(a.url("/grants"), json=body), 422, field="user_id")
    assert a.admin.get(a.url("/grants")).json == []


@pytest.mark.parametrize(
    "body",
    [
        {"role": "zone:admin"},
        {"role": "token:read-write"},
        {"role": "branch:owner"},
        {},
    ],
)
def test_grant_of_a_role_that_is_not_a_branch_role_is_422(zone_admin, a, person, body):
    user, _ = person
    response = zone_admin.post(a.zone_grants(), json={"user_id": str(user.id), **body})
    assert_error(response, 422, field="role")


def test_username_shared_by_two_accounts_is_ambiguous_and_refused(a, make_account):
    name = f"same-{uuid.uuid4().hex[:6]}"
    make_account(username=name)
    make_account(username=name)
    body = {"username": name, "role": "branch:member"}
    assert_error(a.admin.post(a.url("/grants"), json=body), 422, field="username")


def test_every_grant_and_revoke_is_in_the_branch_audit_log_with_its_actor(
    issuer, a, b, person, make_account, as_groups
):
    zone_admin = as_groups("pmsc:zone:admin", subject="committee-1", name="陈主任")
    secretary = as_groups(f"pmsc:branch:{a.slug}:admin", subject="secretary-a", name="王书记")
    user, _ = person
    other = make_account()
    by_zone = _grant(zone_admin, a.zone_grants(), user, "branch:admin")
    by_branch = _grant(secretary, a.url("/grants"), other, by="username")
    assert secretary.delete(a.url(f"/grants/{by_branch['id']}")).status_code == 204
    assert zone_admin.delete(a.zone_grants(f"/{by_zone['id']}")).status_code == 204

    events = _audit(a.admin, a, "role_grants")
    seen = [
        (e["action"], e["object_id"], e["actor"]["subject"], e["actor"]["name"])
        for e in reversed(events)  # the log is newest first
    ]
    assert seen == [
        ("create", by_zone["id"], "committee-1", "陈主任"),
        ("create", by_branch["id"], "secretary-a", "王书记"),
        ("delete", by_branch["id"], "secretary-a", "王书记"),
        ("delete", by_zone["id"], "committee-1", "陈主任"),
    ]
    assert all(e["actor"]["issuer"] == issuer.url for e in events)
    create = events[-1]["changes"]
    assert create["user_id"]["after"] == str(user.id)
    assert create["role"]["after"] == "branch:admin"
    assert by_zone["granted_by"] == "陈主任 (committee-1)"
    assert _audit(b.admin, b, "role_grants") == []


# --- isolation of grants -------------------------------------------------------------------------


def test_grants_of_another_branch_cannot_be_seen_or_revoked(zone_admin, a, b, person):
    user, caller = person
    b_grant = _grant(b.admin, b.url("/grants"), user)
    a_grant = _grant(a.admin, a.url("/grants"), user)
    body = {"user_id": str(user.id), "role": "branch:member"}

    assert_error(a.admin.get(b.url("/grants")), 404)
    assert_error(a.admin.post(b.url("/grants"), json=body), 404)
    assert_error(a.admin.delete(b.url(f"/grants/{b_grant['id']}")), 404)
    # B's grant id through A's path
    assert_error(a.admin.delete(a.url(f"/grants/{b_grant['id']}")), 404)
    assert_error(zone_admin.delete(a.zone_grants(f"/{b_grant['id']}")), 404)

    assert [g["id"] for g in a.admin.get(a.url("/grants")).json] == [a_grant["id"]]
    assert [g["id"] for g in b.admin.get(b.url("/grants")).json] == [b_grant["id"]]
    assert [g["id"] for g in zone_admin.get(a.zone_grants()).json] == [a_grant["id"]]
    assert caller.get(b.url("/members")).status_code == 200
    assert _slugs(caller.get("/api/v1/me")) == sorted([a.slug, b.slug])


# --- API tokens ----------------------------------------------------------------------------------


def _token(branch: Branch, scope: str = "read", **extra) -> dict:
    body = {"name": f"人事系统 {scope}", "scope": scope, **extra}
    return _created(branch.admin.post(branch.url("/api-tokens"), json=body))


def _days_from_now(moment: str) -> float:
    return (datetime.fromisoformat(moment) - utcnow()) / timedelta(days=1)


def test_token_secret_is_shown_once_and_never_listed(a):
    made = _token(a, "read", expires_in_days=30)
    secret = made["secret"]
    assert secret.startswith(f"pmsct_{a.tenant.id.hex}_")
    assert made["hint"] == secret[-4:]
    assert made["status"] == "active"
    assert made["scope"] == "read"
    assert made["revoked_at"] is None and made["last_used_at"] is None
    assert _days_from_now(made["expires_at"]) == pytest.approx(30, abs=0.001)

    listed = a.admin.get(a.url("/api-tokens"))
    assert listed.status_code == 200
    (item,) = listed.json
    assert "secret" not in item
    assert item["id"] == made["id"] and item["hint"] == made["hint"]
    assert item["status"] == "active"
    assert secret not in listed.get_data(as_text=True)
    assert made["secret"][len("pmsct_") + 33 :] not in listed.get_data(as_text=True)


def test_default_token_lifetime_is_ninety_days(a):
    assert _days_from_now(_token(a)["expires_at"]) == pytest.approx(90, abs=0.001)


def test_read_token_reads_masked_and_cannot_write(client, a):
    a.admin.post(a.url("/members"), json=VALID_MEMBER)
    reader = Caller(client, _token(a, "read")["secret"])
    listed = reader.get(a.url("/members"))
    assert listed.status_code == 200
    (member,) = listed.json
    assert member["phone"] == MASKED_PHONE
    assert member["id_card_number"] == MASKED_ID_CARD
    assert reader.get(a.url(f"/members/{member['id']}")).json["phone"] == MASKED_PHONE
    assert reader.get(a.url("/party-groups")).status_code == 200
    assert_error(reader.post(a.url("/members"), json=worker("只读")), 403)
    assert_error(reader.post(a.url("/party-groups"), json={"name": "只读组"}), 403)
    assert total(a.admin, a.url("/members")) == 1


def test_read_write_token_writes_and_sees_id_cards_in_clear(client, a):
    writer = Caller(client, _token(a, "read-write")["secret"])
    created = _created(writer.post(a.url("/members"), json=VALID_MEMBER))
    assert created["id_card_number"] == VALID_MEMBER["id_card_number"]
    assert created["phone"] == VALID_MEMBER["phone"]
    read = writer.get(a.url(f"/members/{created['id']}"))
    assert read.json["id_card_number"] == VALID_MEMBER["id_card_number"]
    # the audit log names the token as the actor
    (event,) = _audit(a.admin, a, "members")
    assert event["actor"]["subject"].startswith("api-token:")
    assert event["actor"]["name"] == "人事系统 read-write"


@pytest.mark.parametrize("scope", ["read", "read-write"])
def test_token_works_in_its_one_branch_only(client, a, b, scope):
    caller = Caller(client, _token(a, scope)["secret"])
    assert caller.get(a.url("/members")).status_code == 200
    for path in ("/members", "/party-groups", "/grants", "/api-tokens"):
        assert_error(caller.get(b.url(path)), 404)
    assert_error(caller.post(b.url("/members"), json=worker("越界")), 404)
    for path in ("/api/v1/zone/tenants", "/api/v1/zone/users", a.zone_grants()):
        assert_error(caller.get(path), 403)
    # nor does a token manage grants, tokens or read the audit log
    for path in ("/grants", "/api-tokens", "/audit"):
        assert_error(caller.get(a.url(path)), 403)
    body = {"name": "再生一个", "scope": "read-write"}
    assert_error(caller.post(a.url("/api-tokens"), json=body), 403)
    me = caller.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json["branches"][0]["roles"] == [f"token:{scope}"]
    assert me.json["csrf_token"] is None


@pytest.mark.parametrize("days", [0, -1, 367, 10_000, "30", 1.5, True, None])
def test_token_expiry_out_of_bounds_or_not_an_integer_is_422(a, days):
    body = {"name": "越界", "scope": "read", "expires_in_days": days}
    assert_error(a.admin.post(a.url("/api-tokens"), json=body), 422, field="expires_in_days")
    assert a.admin.get(a.url("/api-tokens")).json == []


@pytest.mark.parametrize("days", [1, 366])
def test_token_expiry_at_the_bounds_is_accepted(a, days):
    made = _token(a, expires_in_days=days)
    assert _days_from_now(made["expires_at"]) == pytest.approx(days, abs=0.001)


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "read"},
        {"name": "", "scope": "read"},
        {"name": "x", "scope": "admin"},
        {"name": "x", "scope": "read", "secret": "pmsct_mine"},
    ],
    ids=["no-name", "empty-name", "bad-scope", "own-secret"],
)
def test_invalid_token_requests_are_422(a, body):
    assert_error(a.admin.post(a.url("/api-tokens"), json=body), 422)
    assert a.admin.get(a.url("/api-tokens")).json == []


def assert_unauthorized(response) -> None:
    assert_error(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="pmsc"')
    assert 'error="invalid_token"' in challenge


def test_revoked_token_is_refused_at_the_next_request(client, a):
    made = _token(a, "read-write")
    caller = Caller(client, made["secret"])
    assert caller.get(a.url("/members")).status_code == 200
    assert a.admin.delete(a.url(f"/api-tokens/{made['id']}")).status_code == 204
    assert_unauthorized(caller.get(a.url("/members")))
    assert_unauthorized(caller.post(a.url("/members"), json=worker("撤销后")))
    assert_unauthorized(caller.get("/api/v1/me"))
    (item,) = a.admin.get(a.url("/api-tokens")).json
    assert item["status"] == "revoked" and item["revoked_at"]
    # revoking again changes nothing
    assert a.admin.delete(a.url(f"/api-tokens/{made['id']}")).status_code == 204
    assert a.admin.get(a.url("/api-tokens")).json == [item]
    assert total(a.admin, a.url("/members")) == 0


def test_archived_branch_can_still_withdraw_access_but_not_grant_it(client, zone_admin, a, person):
    user, _ = person
    made = _token(a, "read")
    member_grant = _grant(a.admin, a.url("/grants"), user)
    archived = zone_admin.get(f"/api/v1/zone/tenants/{a.slug}")
    zone_admin.patch(
        f"/api/v1/zone/tenants/{a.slug}",
        json={"status": "archived"},
        headers={"If-Match": archived.headers["ETag"]},
    )
    token_caller = Caller(client, made["secret"])
    assert token_caller.get(a.url("/members")).status_code == 200  # archived is read-only
    assert (
        a.admin.post(a.url("/api-tokens"), json={"name": "新", "scope": "read"}).status_code == 403
    )
    assert (
        a.admin.post(
            a.url("/grants"), json={"user_id": str(user.id), "role": "branch:member"}
        ).status_code
        == 403
    )
    assert a.admin.delete(a.url(f"/api-tokens/{made['id']}")).status_code == 204
    assert_unauthorized(token_caller.get(a.url("/members")))
    assert a.admin.delete(a.url(f"/grants/{member_grant['id']}")).status_code == 204
    assert a.admin.get(a.url("/grants")).json == []


def _set_token(app, tenant, token_id: str, **values) -> None:
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant.id))
        token = session.scalar(select(ApiToken).where(ApiToken.id == uuid.UUID(token_id)))
        for key, value in values.items():
            setattr(token, key, value)
        session.commit()
        session.close()


def test_expired_token_is_refused(app, client, a):
    made = _token(a, "read")
    caller = Caller(client, made["secret"])
    assert caller.get(a.url("/members")).status_code == 200
    _set_token(app, a.tenant, made["id"], expires_at=utcnow() - timedelta(seconds=1))
    assert_unauthorized(caller.get(a.url("/members")))
    (item,) = a.admin.get(a.url("/api-tokens")).json
    assert item["status"] == "expired"


def test_token_use_is_recorded_without_an_audit_event(client, a):
    made = _token(a)
    assert Caller(client, made["secret"]).get(a.url("/party-groups")).status_code == 200
    (item,) = a.admin.get(a.url("/api-tokens")).json
    assert item["last_used_at"] is not None
    # a bookkeeping timestamp, not a change somebody made: the log keeps the creation only
    assert [e["action"] for e in _audit(a.admin, a, "api_tokens")] == ["create"]


def _forgeries(a: Branch, b: Branch, secret: str) -> dict[str, str]:
    tail = secret[-43:]
    random_tail = uuid.uuid4().hex + uuid.uuid4().hex[:11]
    return {
        "right tenant, wrong secret": f"pmsct_{a.tenant.id.hex}_{random_tail}",
        "right secret, another tenant": f"pmsct_{b.tenant.id.hex}_{tail}",
        "unknown tenant": f"pmsct_{uuid.uuid4().hex}_{tail}",
        "one character changed": secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        "truncated": secret[:-1],
        "prolonged": secret + "x",
        "upper-case tenant": f"pmsct_{a.tenant.id.hex.upper()}_{tail}",
        "no secret": f"pmsct_{a.tenant.id.hex}_",
        "prefix only": "pmsct_",
        "not hex": f"pmsct_{'g' * 32}_{tail}",
        "bad characters": f"pmsct_{a.tenant.id.hex}_{'!' * 43}",
    }


def test_forged_or_malformed_tokens_are_401_never_500(client, a, b):
    secret = _token(a, "read-write")["secret"]
    for name, forged in _forgeries(a, b, secret).items():
        assert forged != secret
        response = Caller(client, forged).get(a.url("/members"))
        assert response.status_code == 401, (name, response.get_data(as_text=True))
        assert_unauthorized(response)
    assert Caller(client, secret).get(a.url("/members")).status_code == 200


def test_token_secrets_are_stored_only_as_hashes(app, a):
    made = _token(a, "read")
    secret = made["secret"]
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(a.tenant.id))  # row-level security on PostgreSQL
        rows = [
            dict(r._mapping) for r in session.connection().execute(text("SELECT * FROM api_tokens"))
        ]
        session.close()
    (row,) = [r for r in rows if uuid.UUID(str(r["id"])) == uuid.UUID(made["id"])]
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["hint"] == secret[-4:]
    stored = " ".join(str(value) for r in rows for value in r.values())
    assert secret not in stored
    assert secret[-43:-4] not in stored


def test_token_creation_and_revocation_are_audited_with_the_hash_masked(client, a):
    made = _token(a, "read-write")
    Caller(client, made["secret"]).get(a.url("/members"))
    assert a.admin.delete(a.url(f"/api-tokens/{made['id']}")).status_code == 204

    events = list(reversed(_audit(a.admin, a, "api_tokens")))
    assert [(e["action"], e["object_id"]) for e in events] == [
        ("create", made["id"]),
        ("update", made["id"]),
    ]
    created, revoked = events
    assert created["changes"]["secret_hash"] == {"before": None, "after": "***"}
    assert created["changes"]["scope"]["after"] == "read-write"
    assert set(revoked["changes"]) == {"revoked_at"}
    assert created["actor"]["subject"] == revoked["actor"]["subject"]
    log = a.admin.get(a.url("/audit"), query_string={"page_size": 100}).get_data(as_text=True)
    assert made["secret"][-43:] not in log
    assert hashlib.sha256(made["secret"].encode()).hexdigest() not in log


def test_tokens_of_another_branch_cannot_be_seen_used_or_revoked(client, a, b):
    a_token = _token(a)
    b_token = _token(b, "read-write")
    body = {"name": "越界", "scope": "read"}

    assert_error(a.admin.get(b.url("/api-tokens")), 404)
    assert_error(a.admin.post(b.url("/api-tokens"), json=body), 404)
    assert_error(a.admin.delete(b.url(f"/api-tokens/{b_token['id']}")), 404)
    # B's token id through A's path
    assert_error(a.admin.delete(a.url(f"/api-tokens/{b_token['id']}")), 404)

    assert [t["id"] for t in a.admin.get(a.url("/api-tokens")).json] == [a_token["id"]]
    (still,) = b.admin.get(b.url("/api-tokens")).json
    assert still["status"] == "active"
    assert Caller(client, b_token["secret"]).get(b.url("/members")).status_code == 200


def test_zone_roles_do_not_manage_a_branch_tokens(zone_admin, a):
    made = _token(a)
    assert_error(zone_admin.get(a.url("/api-tokens")), 403)
    assert_error(zone_admin.post(a.url("/api-tokens"), json={"name": "x", "scope": "read"}), 403)
    assert_error(zone_admin.delete(a.url(f"/api-tokens/{made['id']}")), 403)


# --- browser sessions and CSRF -------------------------------------------------------------------


class Browser:
    """A client holding a session cookie, as a browser does after sign-in."""

    def __init__(self, app, secret: str, csrf: str, session_id: uuid.UUID) -> None:
        self.client = app.test_client()
        self.client.set_cookie("pmsc_session", secret)
        self.csrf = csrf
        self.session_id = session_id

    def __getattr__(self, method: str):
        def call(path: str, *, csrf: bool = False, **kwargs):
            headers = dict(kwargs.pop("headers", {}))
            if csrf:
                headers["X-CSRF-Token"] = self.csrf
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        return call


def signed_in(app, user) -> Browser:
    """A browser session for `user`, opened as the sign-in opens it."""
    settings = app.config["PMSC_SETTINGS"]
    with app.app_context():
        session = db.new_session()
        record, secret = access.start_session(
            session, user=user, id_token=None, lifetime=settings.session_lifetime
        )
        csrf, session_id = record.csrf_token, record.id
        session.commit()
        session.close()
    return Browser(app, secret, csrf, session_id)


def _session_row(app, session_id: uuid.UUID) -> UserSession | None:
    with app.app_context():
        session = db.new_session()
        row = session.get(UserSession, session_id)
        session.close()
    return row


def _age_session(app, session_id: uuid.UUID, **values) -> None:
    with app.app_context():
        session = db.new_session()
        row = session.get(UserSession, session_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.commit()
        session.close()


@pytest.fixture
def secretary(app, issuer, a, make_account):
    """A's secretary signed in through the browser (groups from the provider)."""
    user = make_account(issuer=issuer.url, groups=[f"pmsc:branch:{a.slug}:admin"])
    return signed_in(app, user)


def test_cookie_write_without_the_csrf_token_is_refused_and_writes_nothing(secretary, a):
    response = secretary.post(a.url("/members"), json=worker("无令牌"))
    assert_error(response, 403)
    assert "X-CSRF-Token" in response.json["message"]
    wrong = secretary.post(
        a.url("/members"), json=worker("错令牌"), headers={"X-CSRF-Token": "not-the-token"}
    )
    assert_error(wrong, 403)
    assert_error(secretary.post(a.url("/api-tokens"), json={"name": "x", "scope": "read"}), 403)
    assert total(a.admin, a.url("/members")) == 0
    assert a.admin.get(a.url("/api-tokens")).json == []


def test_cookie_write_with_the_csrf_token_succeeds(secretary, a):
    created = _created(secretary.post(a.url("/members"), json=worker("有令牌"), csrf=True))
    url = a.url(f"/members/{created['id']}")
    etag = secretary.get(url).headers["ETag"]
    assert_error(secretary.delete(url, headers={"If-Match": etag}), 403)
    assert secretary.delete(url, headers={"If-Match": etag}, csrf=True).status_code == 204
    assert total(a.admin, a.url("/members")) == 0


def test_cookie_reads_need_no_csrf_token_and_bearer_writes_need_none(secretary, a):
    assert secretary.get(a.url("/members")).status_code == 200
    assert a.admin.post(a.url("/members"), json=worker("持令牌者")).status_code == 201


def test_me_gives_the_csrf_token_only_to_cookie_sessions(secretary, a):
    by_cookie = secretary.get("/api/v1/me")
    assert by_cookie.status_code == 200
    assert by_cookie.json["csrf_token"] == secretary.csrf
    assert _slugs(by_cookie) == [a.slug]
    assert a.admin.get("/api/v1/me").json["csrf_token"] is None


def test_unknown_session_cookie_is_401(app):
    browser = Browser(app, "not-a-session", "x", uuid.uuid4())
    assert_error(browser.get("/api/v1/me"), 401)
    assert "WWW-Authenticate" in browser.get("/api/v1/me").headers


def test_idle_session_is_refused_and_deleted(app, secretary, a):
    idle = app.config["PMSC_SETTINGS"].session_idle
    assert secretary.get("/api/v1/me").status_code == 200
    _age_session(app, secretary.session_id, last_seen_at=utcnow() - idle - timedelta(seconds=5))
    response = secretary.get(a.url("/members"))
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _session_row(app, secretary.session_id) is None
    assert_error(secretary.get("/api/v1/me"), 401)


def test_session_active_just_under_the_idle_limit_stays_open(app, secretary):
    idle = app.config["PMSC_SETTINGS"].session_idle
    _age_session(app, secretary.session_id, last_seen_at=utcnow() - idle + timedelta(minutes=1))
    assert secretary.get("/api/v1/me").status_code == 200
    row = _session_row(app, secretary.session_id)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)  # the use was recorded


def test_session_past_its_absolute_end_is_refused_and_deleted(app, secretary, a):
    _age_session(app, secretary.session_id, expires_at=utcnow() - timedelta(seconds=1))
    assert_error(secretary.get(a.url("/members")), 401)
    assert _session_row(app, secretary.session_id) is None


def test_session_of_a_person_whose_groups_name_no_branch_enters_none(app, make_account, a, issuer):
    user = make_account(issuer=issuer.url, groups=["pmsc:zone:viewer"])
    browser = signed_in(app, user)
    me = browser.get("/api/v1/me")
    assert me.json["zone_roles"] == ["zone:viewer"] and me.json["branches"] == []
    assert browser.get("/api/v1/zone/tenants").status_code == 200
    assert_error(browser.get(a.url("/members")), 403)  # zone roles read no records
