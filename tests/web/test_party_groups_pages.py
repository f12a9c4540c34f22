"""The party-group pages: the list with member counts, create / rename / delete by a branch
admin (version-checked, the domain's refusals shown on the form in the person's language),
read-only for a member, another branch's 404."""

from __future__ import annotations

import re

from sqlalchemy import select

from service.members import service as members
from service.members.models import PartyGroup
from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    branch_id,
    browser_sign_in,
    csrf_of,
    in_branch,
    shot,
    signed_in,
    text_of,
)

GROUPS = f"/t/{BRANCH}/party-groups"


def _groups(app) -> dict[str, tuple[int, int]]:
    """Each party group's name: (member count, version)."""
    t = branch_id(app)
    return in_branch(
        app,
        lambda s: {g.name: (n, g.version) for g, n in members.list_party_groups(s, tenant_id=t)},
    )


def _group_id(app, name: str) -> str:
    t = branch_id(app)
    where = (PartyGroup.tenant_id == t, PartyGroup.name == name)
    return str(in_branch(app, lambda s: s.scalar(select(PartyGroup.id).where(*where))))


def test_the_list_shows_each_group_with_its_member_count_in_chinese(demo_app):
    client = signed_in(demo_app, SECRETARY)
    response = client.get(GROUPS)
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    assert "党小组" in page and "新增党小组" in page
    groups = _groups(demo_app)
    assert groups, "the demo branch has party groups"
    for name, (count, _version) in groups.items():
        assert re.search(rf"{re.escape(name)} {count} ", page), name


def test_a_secretary_creates_renames_and_deletes_a_party_group(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    created = client.post(
        f"{GROUPS}/new", data={"csrf_token": token, "name": "第九党小组", "notes": "新成立"}
    )
    assert created.status_code == 303
    assert _groups(demo_app)["第九党小组"] == (0, 1)
    group_id = _group_id(demo_app, "第九党小组")
    assert "第九党小组 已创建" in text_of(client.get(GROUPS).get_data(as_text=True))

    renamed = client.post(
        f"{GROUPS}/{group_id}/edit",
        data={"csrf_token": token, "version": "1", "name": "第十党小组", "notes": ""},
    )
    assert renamed.status_code == 303
    groups = _groups(demo_app)
    assert "第九党小组" not in groups and groups["第十党小组"] == (0, 2)

    deleted = client.post(f"{GROUPS}/{group_id}/delete", data={"csrf_token": token, "version": "2"})
    assert deleted.status_code == 303
    assert "第十党小组" not in _groups(demo_app)


def test_a_taken_or_missing_name_is_named_on_the_field_and_nothing_is_saved(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    before = _groups(demo_app)
    taken = next(iter(before))
    refused = client.post(f"{GROUPS}/new", data={"csrf_token": token, "name": taken})
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    # the domain's message, with the name filled in, in Chinese
    assert f"本支部已有名为 &#39;{taken}&#39; 的党小组。" in page
    assert 'id="e-name"' in page and 'aria-invalid="true"' in page
    empty = client.post(f"{GROUPS}/new", data={"csrf_token": token, "name": " "})
    assert empty.status_code == 422 and "请修改标出的字段" in empty.get_data(as_text=True)
    assert _groups(demo_app) == before


def test_a_group_with_members_is_not_deleted_and_the_page_says_why_in_chinese(demo_app):
    client = signed_in(demo_app, SECRETARY)
    name, (count, version) = next((n, c) for n, c in _groups(demo_app).items() if c[0] > 0)
    group_id = _group_id(demo_app, name)
    refused = client.post(
        f"{GROUPS}/{group_id}/delete", data={"csrf_token": csrf_of(client), "version": version}
    )
    assert refused.status_code == 409
    assert f"该党小组还有 {count} 名成员，请先将他们调出。" in text_of(
        refused.get_data(as_text=True)
    )
    assert _groups(demo_app)[name] == (count, version)


def test_a_form_opened_before_someone_else_saved_is_refused(demo_app):
    client = signed_in(demo_app, SECRETARY)
    name, (count, version) = next(iter(_groups(demo_app).items()))
    group_id = _group_id(demo_app, name)
    stale = client.post(
        f"{GROUPS}/{group_id}/edit",
        data={"csrf_token": csrf_of(client), "version": str(version - 1), "name": "过期的改名"},
    )
    assert stale.status_code == 409
    assert "此记录已被他人修改" in stale.get_data(as_text=True)
    assert _groups(demo_app)[name] == (count, version)


def test_a_member_reads_the_groups_but_cannot_change_them(demo_app):
    client = signed_in(demo_app, BRANCH_MEMBER)
    page = client.get(GROUPS)
    assert page.status_code == 200 and "新增党小组" not in page.get_data(as_text=True)
    before = _groups(demo_app)
    name = next(iter(before))
    group_id = _group_id(demo_app, name)
    token = csrf_of(client)
    assert client.get(f"{GROUPS}/new").status_code == 403
    assert (
        client.post(f"{GROUPS}/new", data={"csrf_token": token, "name": "越权"}).status_code == 403
    )
    assert (
        client.post(
            f"{GROUPS}/{group_id}/delete", data={"csrf_token": token, "version": "1"}
        ).status_code
        == 403
    )
    assert _groups(demo_app) == before


def test_another_branch_s_groups_are_not_found(demo_app):
    client = signed_in(demo_app, SECRETARY)
    assert client.get(f"/t/{OTHER_BRANCH}/party-groups").status_code == 404
    assert client.get("/zone/audit").status_code == 403


def test_in_a_browser_a_group_is_added_and_a_full_one_is_not_deleted(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    page.get_by_role("navigation", name="支部").get_by_role("link", name="党小组").click()
    page.get_by_role("link", name="新增党小组").click()
    page.get_by_role("button", name="保存").click()
    assert page.locator("#e-name").inner_text() == "此项必填。"
    page.get_by_label("党小组名称 *").fill("浏览器党小组")
    page.get_by_label("党小组名称 *").press("Enter")
    assert page.get_by_text("党小组 浏览器党小组 已创建。").is_visible()
    shot(page, "groups-list")
    full = page.locator("#party-groups tbody tr").filter(has_not_text="浏览器党小组").first
    full.get_by_role("link").click()
    page.get_by_role("button", name="删除").click()
    assert "名成员，请先将他们调出。" in page.locator("#delete-errors").inner_text()
    shot(page, "group-delete-refused")
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(f"{live_url}{GROUPS}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "groups-phone")
    page.get_by_role("link", name="编辑 浏览器党小组").click()  # removed again: the zone stays
    page.get_by_role("button", name="删除").click()
    assert page.get_by_text("党小组 浏览器党小组 已删除。").is_visible()
