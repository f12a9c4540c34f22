"""The branch space's and the zone view's pages: who may see what (the API's permission table),
forms that name each bad field and write nothing, CSRF on every post, the language switch."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from service.activities.models import Activity, ActivityStatus, Attendance
from service.database import db
from service.members.models import Member
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.registry import Tenant
from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    count_rows,
    create_zone_activity,
    csrf_of,
    signed_in,
    text_of,
)

HOME = f"/t/{BRANCH}/"
MEMBERS = f"/t/{BRANCH}/members"


def _held_activity(client) -> str:
    page = client.get(f"/t/{BRANCH}/activities?status=held").get_data(as_text=True)
    return re.search(r"/activities/([0-9a-f-]{36})", page).group(1)


def test_a_secretary_sees_every_page_of_the_branch_with_its_demo_figures(demo_app):
    client = signed_in(demo_app, SECRETARY)
    home = text_of(client.get(HOME).get_data(as_text=True))
    assert "人员构成" in home and "花名册人数" in home
    assert re.search(r"\d+ / \d+ 已开 / 应开规定会议", home)  # meetings against the schedule
    assert "学时达标人数" in home and "全区中位数得分" in home  # training, own standing
    assert re.search(r"第 \d+ 名（共 7 个支部）", home)
    activity = _held_activity(client)
    for url in (
        MEMBERS,
        f"{MEMBERS}?name=王&category=party-member&party_status=full",
        f"{MEMBERS}/new",
        f"/t/{BRANCH}/activities",
        f"/t/{BRANCH}/activities?kind=committee-meeting&month=2026-03",
        f"/t/{BRANCH}/activities/calendar",
        f"/t/{BRANCH}/activities/{activity}",
    ):
        assert client.get(url).status_code == 200, url


def test_a_branch_member_reads_but_is_offered_and_allowed_no_writes(demo_app):
    client = signed_in(demo_app, BRANCH_MEMBER)
    roster = client.get(MEMBERS).get_data(as_text=True)
    assert "新增人员" not in roster
    assert client.get(f"{MEMBERS}/new").status_code == 403
    token = csrf_of(client)
    before = count_rows(demo_app, Member)
    refused = client.post(
        f"{MEMBERS}/new",
        data={"csrf_token": token, "name": "越权", "gender": "male", "category": "worker"},
    )
    assert refused.status_code == 403
    assert count_rows(demo_app, Member) == before
    activity = _held_activity(client)
    page = client.get(f"/t/{BRANCH}/activities/{activity}").get_data(as_text=True)
    assert "保存考勤" not in page and "disabled" in page
    assert (
        client.post(f"/t/{BRANCH}/activities/{activity}", data={"csrf_token": token}).status_code
        == 403
    )


def test_a_branch_user_gets_404_for_another_branch_and_403_for_the_zone_view(demo_app):
    client = signed_in(demo_app, SECRETARY)
    for url in (f"/t/{OTHER_BRANCH}/", f"/t/{OTHER_BRANCH}/members", "/t/no-such-branch/"):
        assert client.get(url).status_code == 404, url
    for url in ("/zone/", "/zone/rankings"):
        assert client.get(url).status_code == 403, url


def test_committee_staff_see_the_zone_view_but_not_a_branch_space(demo_app):
    client = signed_in(demo_app, "zone-viewer")
    zone = text_of(client.get("/zone/").get_data(as_text=True))
    assert "亨通光电党委" in zone and "正常 7" in zone
    page = client.get("/zone/rankings").get_data(as_text=True)
    assert 'id="ranking-chart"' in page and "echarts.min.js" in page
    assert re.search(r"数据计算于 \d{4}-\d{2}-\d{2} \d{2}:\d{2}", text_of(page))
    assert client.get(HOME).status_code == 403
    assert client.get(f"/t/{BRANCH}/members").status_code == 403


def test_rankings_filter_by_enterprise_type_and_sort_by_an_indicator(demo_app):
    client = signed_in(demo_app, "zone-admin")
    foreign = text_of(
        client.get("/zone/rankings?enterprise_type=foreign-funded").get_data(as_text=True)
    )
    assert "博世汽车部件党支部" in foreign and "亨通光电党委" not in foreign
    sorted_page = client.get("/zone/rankings?sort=training").get_data(as_text=True)
    table = sorted_page.split('id="ranking-table"')[1]
    # the training-hours column is the third indicator: its scores go down the table
    scores = [float(s) for s in re.findall(r"<td class=\"num\">([\d.]+)<br>", table)[2::4]]
    assert scores == sorted(scores, reverse=True)
    assert client.get("/zone/rankings?period=bad&enterprise_type=nonsense").status_code == 200


def test_a_guest_is_sent_to_sign_in(demo_app):
    response = demo_app.test_client().get(MEMBERS)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_member_form_names_each_bad_field_and_writes_nothing(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    before = count_rows(demo_app, Member)
    response = client.post(
        f"{MEMBERS}/new",
        data={
            "csrf_token": token,
            "name": "",
            "gender": "male",
            "category": "worker",
            "phone": "123",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="e-name"' in page and "此项必填" in page
    assert 'id="e-phone"' in page and "手机号为以 1 开头的 11 位数字" in page
    assert 'aria-invalid="true"' in page
    # a rule across fields (a worker has no party status) is named on its field too
    rule = client.post(
        f"{MEMBERS}/new",
        data={
            "csrf_token": token,
            "name": "规则",
            "gender": "male",
            "category": "worker",
            "party_status": "full",
        },
    )
    assert rule.status_code == 422
    assert 'id="e-party_status"' in rule.get_data(as_text=True)
    assert count_rows(demo_app, Member) == before


def test_a_member_is_created_then_edited_and_a_stale_edit_is_refused(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    created = client.post(
        f"{MEMBERS}/new",
        data={
            "csrf_token": token,
            "name": "页面新人",
            "gender": "female",
            "category": "worker",
            "phone": "13912345678",
        },
    )
    assert created.status_code == 303
    page_url = created.headers["Location"]
    shown = text_of(client.get(page_url).get_data(as_text=True))
    assert "已新增 页面新人" in shown and "139****5678" not in shown  # a secretary sees it all
    form = client.get(f"{page_url}/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    fields = {
        "csrf_token": token,
        "version": version,
        "gender": "female",
        "category": "worker",
        "phone": "13912345678",
    }
    assert client.post(f"{page_url}/edit", data={**fields, "name": "页面新人甲"}).status_code == 303
    stale = client.post(f"{page_url}/edit", data={**fields, "name": "页面新人乙"})
    assert stale.status_code == 409
    assert count_rows(demo_app, Member, Member.name == "页面新人乙") == 0
    member_view = text_of(signed_in(demo_app, BRANCH_MEMBER).get(page_url).get_data(as_text=True))
    assert "139****5678" in member_view  # masked for a reader, as in the API


def test_every_post_needs_the_session_csrf_token(demo_app):
    client = signed_in(demo_app, SECRETARY)
    before = count_rows(demo_app, Member)
    refused = client.post(
        f"{MEMBERS}/new", data={"name": "无令牌", "gender": "male", "category": "worker"}
    )
    assert refused.status_code == 403
    forged = client.post(
        f"{MEMBERS}/new",
        data={"csrf_token": "forged", "name": "无令牌", "gender": "male", "category": "worker"},
    )
    assert forged.status_code == 403
    assert count_rows(demo_app, Member) == before


def test_attendance_is_taken_on_one_screen_all_or_nothing(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    activity = _held_activity(client)
    url = f"/t/{BRANCH}/activities/{activity}"
    page = client.get(url).get_data(as_text=True)
    members = re.findall(r'name="status-([0-9a-f-]{36})"', page)
    kept = dict(
        re.findall(r'name="status-([0-9a-f-]{36})".*?<option value="(\w+)" selected', page, re.S)
    )
    before = count_rows(demo_app, Attendance, Attendance.activity_id == uuid.UUID(activity))
    posted = {f"status-{m}": "" for m in members}
    posted.update({f"status-{m}": s for m, s in kept.items()})
    first, second = members[0], members[1]
    bad = {
        **posted,
        "csrf_token": token,
        f"status-{first}": "excused",
        f"status-{second}": "present",
    }
    refused = client.post(url, data=bad)
    assert refused.status_code == 422
    assert "请假须填写原因" in refused.get_data(as_text=True)
    assert count_rows(demo_app, Attendance, Attendance.activity_id == uuid.UUID(activity)) == before
    good = {**bad, f"reason-{first}": "出差"}
    saved = client.post(url, data=good)
    assert saved.status_code == 303
    after = client.get(url).get_data(as_text=True)
    assert "考勤已保存" in after and 'value="出差"' in after


def test_attendance_is_not_taken_for_a_planned_activity(demo_app):
    client = signed_in(demo_app, SECRETARY)
    with demo_app.app_context():
        session = db.new_session()
        bind_context(session, Context.zone())
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == BRANCH))
        bind_context(session, Context.tenant(tenant_id))
        planned = session.scalar(
            select(Activity.id).where(Activity.status == ActivityStatus.PLANNED).limit(1)
        )
        session.close()
    if planned is None:
        return
    page = client.get(f"/t/{BRANCH}/activities/{planned}").get_data(as_text=True)
    assert "活动举行后才能登记考勤" in page and "保存考勤" not in page


def test_pages_are_in_chinese_by_default_and_english_on_request(demo_app):
    client = signed_in(demo_app, SECRETARY)
    chinese = client.get(HOME).get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "人员构成" in chinese
    english = client.get(f"{HOME}?lang=en")
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert "Members by category" in english.get_data(as_text=True)
    assert "pmsc_lang=en" in english.headers["Set-Cookie"]
    assert "Members by category" in client.get(MEMBERS.replace("members", "")).get_data(
        as_text=True
    )
    # a browser set up in English still gets Chinese until the person switches
    browser = signed_in(demo_app, SECRETARY)
    english_browser = browser.get(HOME, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "人员构成" in english_browser.get_data(as_text=True)
    switched = browser.get(f"{HOME}?lang=zh_CN", headers={"Accept-Language": "en"})
    assert "人员构成" in switched.get_data(as_text=True)


def test_zone_activities_show_registrations_per_branch(demo_app):
    activity_id = create_zone_activity(
        demo_app,
        kind="expert-lecture",
        title="页面专家讲座",
        starts_at="2099-09-10T14:00:00+08:00",
        ends_at="2099-09-10T16:00:00+08:00",
        study_hours=2,
        capacity=50,
    )
    secretary = signed_in(demo_app, SECRETARY)
    member = secretary.get(f"/api/v1/t/{BRANCH}/members?page_size=1").json[0]
    registered = secretary.post(
        f"/api/v1/t/{BRANCH}/zone-activities/{activity_id}/registrations",
        json={"member_id": member["id"]},
        headers={"X-CSRF-Token": csrf_of(secretary)},
    )
    assert registered.status_code == 201, registered.json
    viewer = signed_in(demo_app, "zone-viewer")
    listed = text_of(viewer.get("/zone/activities?status=planned").get_data(as_text=True))
    assert "页面专家讲座" in listed
    page = viewer.get(f"/zone/activities/{activity_id}").get_data(as_text=True)
    row = page.split('id="registrations"')[1]
    assert re.search(r"亨通光电党委</td><td class=\"num\">1</td><td class=\"num\">0</td>", row)
    assert secretary.get("/zone/activities").status_code == 403
