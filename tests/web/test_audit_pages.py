"""The audit log pages: the branch's own (its admins) and the zone's (committee admins), newest
first, 50 a page, filtered as the API filters; each entry says when (zone time), who, what
and on what. A member, another branch, committee viewers and branch users are kept out."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    browser_sign_in,
    csrf_of,
    shot,
    signed_in,
    text_of,
)

AUDIT = f"/t/{BRANCH}/audit"
WHEN = re.compile(r'<time datetime="[^"]+">(\d{4}-\d{2}-\d{2} \d{2}:\d{2})</time>')


def _rows(html: str) -> list[str]:
    """The visible text of each entry of the table."""
    body = html.split('id="audit-table"')[1].split("</tbody>")[0]
    return [text_of(row) for row in body.split("<tr>")[2:]]


def test_the_branch_log_shows_a_new_write_first_with_when_who_what_and_on_what(demo_app):
    client = signed_in(demo_app, SECRETARY)
    before = datetime.now(ZoneInfo("Asia/Shanghai"))
    created = client.post(
        f"/t/{BRANCH}/party-groups/new", data={"csrf_token": csrf_of(client), "name": "审计小组"}
    )
    assert created.status_code == 303
    response = client.get(AUDIT)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "审计日志" in html and "对象类型" in html
    newest = _rows(html)[0]
    assert "亨通光电党委书记" in newest and "创建" in newest and "党小组" in newest
    shown = datetime.strptime(WHEN.search(html).group(1), "%Y-%m-%d %H:%M")
    # the zone's local time, not UTC
    assert abs(shown - before.replace(tzinfo=None, second=0, microsecond=0)) <= timedelta(minutes=2)
    times = WHEN.findall(html)
    assert times == sorted(times, reverse=True)  # newest first
    # the object is named by its id: the group just made, which the test now removes
    group_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", newest).group(0)
    removed = client.post(
        f"/t/{BRANCH}/party-groups/{group_id}/delete",
        data={"csrf_token": csrf_of(client), "version": "1"},
    )
    assert removed.status_code == 303
    newest = _rows(client.get(AUDIT).get_data(as_text=True))[0]
    assert "删除" in newest and group_id in newest


def test_filters_narrow_the_log_and_a_bad_date_is_named(demo_app):
    client = signed_in(demo_app, SECRETARY)
    html = client.get(f"{AUDIT}?object_type=party_groups&action=create").get_data(as_text=True)
    rows = _rows(html)
    assert rows and all("党小组" in r and "创建" in r for r in rows)
    assert 'value="party_groups" selected' in html
    empty = client.get(f"{AUDIT}?since=2000-01-01&until=2000-01-31").get_data(as_text=True)
    assert "共 0 条记录" in text_of(empty)
    bad = client.get(f"{AUDIT}?since=2026-13-01")
    assert bad.status_code == 200
    page = bad.get_data(as_text=True)
    assert 'id="e-since"' in page and "不是有效的日期。" in page


def test_the_log_is_paginated_fifty_to_a_page(demo_app):
    client = signed_in(demo_app, SECRETARY)
    first = client.get(AUDIT).get_data(as_text=True)
    total = int(re.search(r"共 (\d+) 条记录", text_of(first)).group(1))
    assert total > 50 and len(_rows(first)) == 50
    second = client.get(f"{AUDIT}?page=2").get_data(as_text=True)
    assert "第 2 / " in text_of(second)
    assert len(_rows(second)) == min(50, total - 50)
    assert max(WHEN.findall(second)) <= min(WHEN.findall(first))


def test_the_zone_log_is_for_committee_admins(demo_app):
    admin = signed_in(demo_app, "zone-admin")
    response = admin.get("/zone/audit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "全区审计日志" in html
    assert any("支部" in row for row in _rows(html)) or any("账号" in row for row in _rows(html))
    tenants = _rows(admin.get("/zone/audit?object_type=tenants").get_data(as_text=True))
    assert tenants and all("支部" in row for row in tenants)
    assert "审计日志" in admin.get("/zone/").get_data(as_text=True)  # in the nav
    assert signed_in(demo_app, "zone-viewer").get("/zone/audit").status_code == 403


def test_members_other_branches_and_branch_users_are_kept_out(demo_app):
    assert signed_in(demo_app, BRANCH_MEMBER).get(AUDIT).status_code == 403
    secretary = signed_in(demo_app, SECRETARY)
    assert secretary.get(f"/t/{OTHER_BRANCH}/audit").status_code == 404
    assert secretary.get("/zone/audit").status_code == 403
    assert signed_in(demo_app, "zone-admin").get(AUDIT).status_code == 403


def test_in_a_browser_the_log_is_filtered_an_entry_opened_and_it_fits_a_phone(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    page.get_by_role("navigation", name="支部").get_by_role("link", name="审计日志").click()
    assert page.get_by_role("heading", name="审计日志").is_visible()
    page.get_by_label("操作", exact=True).select_option("create")
    page.get_by_label("对象类型").select_option("members")
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("#audit-table tbody tr")
    assert rows.count() > 0
    assert all("创建" in t and "人员" in t for t in rows.all_inner_texts())
    rows.first.locator("summary").click()  # the changed fields, one click away
    assert rows.first.locator("dl.facts").is_visible()
    shot(page, "audit-filtered")
    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "audit-phone")
