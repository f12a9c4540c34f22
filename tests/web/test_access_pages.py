"""The branch's access page (admins only): granting and revoking the member role, making an
API token whose secret is shown once (and works), listing and revoking tokens; bad input named
on its field with nothing written; 403 for a member, 404 for another branch."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.access.models import ApiToken, RoleGrant
from service.access.service import secret_hash
from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    browser_sign_in,
    count_rows,
    csrf_of,
    in_branch,
    shot,
    signed_in,
    text_of,
)

ACCESS = f"/t/{BRANCH}/access"
OUTSIDER = f"{OTHER_BRANCH}-member"  # signed in before, no role in BRANCH
SECRET = re.compile(r"pmsct_[0-9a-f]{32}_[A-Za-z0-9_-]{43}")


def _tokens(app) -> dict[str, ApiToken]:
    def read(session):
        tokens = list(session.scalars(select(ApiToken)))
        session.expunge_all()
        return {t.name: t for t in tokens}

    return in_branch(app, read)


def test_the_access_page_shows_grants_and_tokens_in_chinese(demo_app):
    client = signed_in(demo_app, SECRETARY)
    response = client.get(ACCESS)
    assert response.status_code == 200
    text = text_of(response.get_data(as_text=True))
    assert "访问权限" in text and "授予成员角色" in text and "创建 API 令牌" in text
    assert "访问权限" in client.get(f"/t/{BRANCH}/").get_data(as_text=True)  # in the nav


def test_a_secretary_grants_the_member_role_and_revokes_it(demo_app):
    signed_in(demo_app, OUTSIDER)  # the account exists once its person has signed in
    outsider = signed_in(demo_app, OUTSIDER)
    assert outsider.get(f"/t/{BRANCH}/").status_code == 404
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    granted = client.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": OUTSIDER})
    assert granted.status_code == 303
    assert count_rows(demo_app, RoleGrant) == 1
    html = client.get(ACCESS).get_data(as_text=True)
    assert "现在可以查看本支部的记录" in html and "支部党员（只读）" in html
    assert outsider.get(f"/t/{BRANCH}/").status_code == 200  # the grant acts at once
    grant_id = re.search(r"/access/grants/([0-9a-f-]{36})/revoke", html).group(1)
    revoked = client.post(f"{ACCESS}/grants/{grant_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert count_rows(demo_app, RoleGrant) == 0
    assert outsider.get(f"/t/{BRANCH}/").status_code == 404


def test_an_unknown_or_repeated_grant_is_named_on_the_field_in_chinese(demo_app):
    signed_in(demo_app, OUTSIDER)
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    unknown = client.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": "nobody"})
    assert unknown.status_code == 422
    assert "没有该账号：此人须至少登录过一次。" in unknown.get_data(as_text=True)
    empty = client.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": ""})
    assert empty.status_code == 422 and "请输入用户名或电子邮箱。" in empty.get_data(as_text=True)
    assert count_rows(demo_app, RoleGrant) == 0
    first = client.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": OUTSIDER})
    assert first.status_code == 303
    again = client.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": OUTSIDER})
    assert again.status_code == 409
    # the domain's message with its role filled in, by the role's Chinese name
    assert "该账号在本支部已拥有“支部党员（只读）”角色。" in again.get_data(as_text=True)
    assert count_rows(demo_app, RoleGrant) == 1
    grant_id = in_branch(demo_app, lambda s: s.scalar(select(RoleGrant.id)))
    client.post(f"{ACCESS}/grants/{grant_id}/revoke", data={"csrf_token": token})
    assert count_rows(demo_app, RoleGrant) == 0


def test_a_token_s_secret_is_shown_once_works_and_stops_when_revoked(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    made = client.post(
        f"{ACCESS}/tokens",
        data={"csrf_token": token, "name": "人事系统", "scope": "read", "expires_in_days": "30"},
    )
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    assert "它只显示这一次" in html
    secret = SECRET.search(html).group(0)
    stored = _tokens(demo_app)["人事系统"]
    assert stored.secret_hash == secret_hash(secret) and stored.hint == secret[-4:]
    listing = client.get(ACCESS).get_data(as_text=True)
    assert secret not in listing and not SECRET.search(listing)
    assert "人事系统" in listing and "API 令牌（只读）" in text_of(listing)

    api = demo_app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get(f"/api/v1/t/{BRANCH}/members", headers=bearer).status_code == 200
    revoked = client.post(f"{ACCESS}/tokens/{stored.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert _tokens(demo_app)["人事系统"].revoked_at is not None
    assert api.get(f"/api/v1/t/{BRANCH}/members", headers=bearer).status_code == 401
    assert "已于" in text_of(client.get(ACCESS).get_data(as_text=True))  # marked revoked


def test_bad_token_input_is_named_on_each_field_and_no_token_is_made(demo_app):
    client = signed_in(demo_app, SECRETARY)
    before = len(_tokens(demo_app))
    refused = client.post(
        f"{ACCESS}/tokens",
        data={
            "csrf_token": csrf_of(client),
            "name": "",
            "scope": "everything",
            "expires_in_days": "999",
        },
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="e-t-name"' in html and 'id="e-t-scope"' in html
    assert 'id="e-t-expires_in_days"' in html and "此项必填。" in html
    assert not SECRET.search(html)
    assert len(_tokens(demo_app)) == before


def test_only_branch_admins_reach_the_access_page(demo_app):
    member = signed_in(demo_app, BRANCH_MEMBER)
    assert member.get(ACCESS).status_code == 403
    assert "访问权限" not in member.get(f"/t/{BRANCH}/").get_data(as_text=True)
    token = csrf_of(member)
    before = len(_tokens(demo_app))
    made = member.post(
        f"{ACCESS}/tokens",
        data={"csrf_token": token, "name": "越权", "scope": "read", "expires_in_days": "30"},
    )
    assert made.status_code == 403 and len(_tokens(demo_app)) == before
    granted = member.post(f"{ACCESS}/grants", data={"csrf_token": token, "username": OUTSIDER})
    assert granted.status_code == 403 and count_rows(demo_app, RoleGrant) == 0
    secretary = signed_in(demo_app, SECRETARY)
    assert secretary.get(f"/t/{OTHER_BRANCH}/access").status_code == 404
    assert signed_in(demo_app, "zone-admin").get(ACCESS).status_code == 403


def test_in_a_browser_a_token_is_made_by_keyboard_and_the_page_fits_a_phone(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    page.get_by_role("navigation", name="支部").get_by_role("link", name="访问权限").click()
    assert page.get_by_role("heading", name="访问权限").is_visible()
    page.get_by_label("令牌名称 *").fill("浏览器集成")
    page.keyboard.press("Tab")  # on to the scope, chosen by keyboard
    page.keyboard.press("ArrowDown")
    page.get_by_label("有效期（天，最多 366 天） *").fill("7")
    page.get_by_label("有效期（天，最多 366 天） *").press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="API 令牌已创建").is_visible()
    secret = page.get_by_label(re.compile("^密钥")).input_value()
    assert SECRET.fullmatch(secret)
    shot(page, "token-made")
    page.get_by_role("link", name="返回访问权限").click()
    assert secret not in page.content()
    assert page.get_by_role("rowheader", name="浏览器集成").is_visible()
    assert page.get_by_role("button", name="撤销 浏览器集成").is_visible()  # named for a reader
    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    # nothing wider than a phone's screen but the tables' own scrolling boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "access-phone")
