"""The branch's activity forms (create, edit guarded by the version, delete after a
confirmation) and the member delete: Chinese pages, writes that reach the database, bad writes
that name their fields and change nothing, and who may write at all."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from service.activities.models import Activity, ActivityKind, Attendance, ConsultationTopic
from service.members.models import Member
from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    count_rows,
    csrf_of,
    in_branch,
    signed_in,
    text_of,
)

ACTIVITIES = f"/t/{BRANCH}/activities"
MEMBERS = f"/t/{BRANCH}/members"


def _activity(app, activity_id: str) -> Activity | None:
    def load(session):
        activity = session.scalar(select(Activity).where(Activity.id == uuid.UUID(activity_id)))
        if activity is not None:
            session.expunge(activity)
        return activity

    return in_branch(app, load)


def _fields(token: str, **changes: str) -> dict[str, str]:
    fields = {
        "csrf_token": token,
        "kind": "consultation",
        "title": "表单法律咨询",
        "consultation_topic": "law",
        "festival": "new-year",  # not a cultural activity: the form drops it
        "training_topic": "",
        "starts_at": "2026-10-12T14:00",
        "ends_at": "2026-10-12T16:30",
        "place": "党群服务中心",
        "organizer": "组织委员",
        "capacity": "30",
        "status": "planned",
        "summary": "",
        "study_hours": "1.5",
    }
    fields.update(changes)
    return fields


def _create(client, token: str, **changes: str) -> str:
    created = client.post(f"{ACTIVITIES}/new", data=_fields(token, **changes))
    assert created.status_code == 303, text_of(created.get_data(as_text=True))
    return created.headers["Location"].rstrip("/").rsplit("/", 1)[1]


def test_the_new_activity_form_is_in_chinese_and_shows_the_fields_of_the_chosen_kind(demo_app):
    client = signed_in(demo_app, SECRETARY)
    for listing in (ACTIVITIES, f"{ACTIVITIES}/calendar"):
        assert f"{ACTIVITIES}/new" in client.get(listing).get_data(as_text=True), listing
    page = client.get(f"{ACTIVITIES}/new").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "新增活动" in page
    for caption in ("类型", "名称", "开始时间", "结束时间", "地点", "名额", "学时", "纪要"):
        assert caption in page, caption
    # no kind chosen yet: the kind-specific fields are there for scripts, but hidden
    assert re.search(r'data-kinds="consultation"\s+hidden', page)
    assert re.search(r'data-kinds="cultural-sports"\s+hidden', page)
    # without scripts, the button asks the server for the kind's fields; nothing is saved
    before = count_rows(demo_app, Activity)
    shown = client.post(
        f"{ACTIVITIES}/new",
        data={"csrf_token": csrf_of(client), "kind": "cultural-sports", "refresh": "1"},
    )
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert re.search(r'data-kinds="cultural-sports"\s*>', html) and "节日" in html
    assert re.search(r'data-kinds="consultation"\s+hidden', html)
    assert count_rows(demo_app, Activity) == before


def test_a_bad_activity_names_each_field_and_writes_nothing(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    before = count_rows(demo_app, Activity)
    refused = client.post(
        f"{ACTIVITIES}/new",
        data=_fields(
            token,
            title="",
            consultation_topic="",
            ends_at="2026-10-12T13:00",
            capacity="0",
            study_hours="1.555",
        ),
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="e-title"' in page and "此项必填" in page
    assert 'id="e-capacity"' in page and 'id="e-study_hours"' in page
    assert 'aria-invalid="true"' in page
    # the typed values come back, in the zone's clock
    assert 'value="2026-10-12T14:00"' in page and 'value="党群服务中心"' in page
    rules = client.post(
        f"{ACTIVITIES}/new",
        data=_fields(token, consultation_topic="", ends_at="2026-10-12T13:00"),
    )
    assert rules.status_code == 422
    text = rules.get_data(as_text=True)
    assert 'id="e-ends_at"' in text and 'id="e-consultation_topic"' in text
    assert count_rows(demo_app, Activity) == before


def test_an_activity_is_created_with_every_field_in_the_zones_clock(demo_app):
    client = signed_in(demo_app, SECRETARY)
    activity_id = _create(client, csrf_of(client), summary="带上身份证")
    stored = _activity(demo_app, activity_id)
    assert stored.kind == ActivityKind.CONSULTATION
    assert stored.consultation_topic == ConsultationTopic.LAW
    assert stored.festival is None  # offered only for cultural activities, so dropped
    assert stored.starts_at == datetime(2026, 10, 12, 6, 0, tzinfo=UTC)  # 14:00 Beijing time
    assert (stored.capacity, float(stored.study_hours)) == (30, 1.5)
    assert (stored.place, stored.organizer, stored.summary) == (
        "党群服务中心",
        "组织委员",
        "带上身份证",
    )
    page = text_of(client.get(f"{ACTIVITIES}/{activity_id}").get_data(as_text=True))
    assert "已新增活动 表单法律咨询" in page and "咨询主题 法律" in page


def test_an_edit_is_saved_and_a_stale_edit_is_refused_changing_nothing(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    activity_id = _create(client, token, title="待编辑的咨询")
    url = f"{ACTIVITIES}/{activity_id}/edit"
    form = client.get(url).get_data(as_text=True)
    assert 'value="2026-10-12T14:00"' in form and 'value="待编辑的咨询"' in form
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    changed = _fields(
        token,
        version=version,
        kind="training",
        title="改为党务培训",
        training_topic="party-affairs",
    )
    assert client.post(url, data=changed).status_code == 303
    stored = _activity(demo_app, activity_id)
    assert stored.kind == ActivityKind.TRAINING and stored.title == "改为党务培训"
    assert stored.consultation_topic is None  # the old kind's field is cleared
    stale = client.post(url, data={**changed, "title": "过期的修改"})
    assert stale.status_code == 409
    assert "打开后此记录已被他人修改" in stale.get_data(as_text=True)
    assert _activity(demo_app, activity_id).title == "改为党务培训"
    bad = client.post(url, data={**changed, "version": str(stored.version), "title": ""})
    assert bad.status_code == 422 and 'id="e-title"' in bad.get_data(as_text=True)
    assert _activity(demo_app, activity_id).title == "改为党务培训"


def test_an_activity_is_deleted_only_after_its_confirmation(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    activity_id = _create(client, token, title="待删除的咨询")
    page = client.get(f"{ACTIVITIES}/{activity_id}").get_data(as_text=True)
    assert f"{ACTIVITIES}/{activity_id}/delete" in page and f"{activity_id}/edit" in page
    confirm = client.get(f"{ACTIVITIES}/{activity_id}/delete")
    assert confirm.status_code == 200 and "待删除的咨询" in confirm.get_data(as_text=True)
    assert "确定删除活动 待删除的咨询 吗" in text_of(confirm.get_data(as_text=True))
    assert _activity(demo_app, activity_id) is not None  # asking deletes nothing
    version = re.search(r'name="version" value="(\d+)"', confirm.get_data(as_text=True)).group(1)
    deleted = client.post(
        f"{ACTIVITIES}/{activity_id}/delete", data={"csrf_token": token, "version": version}
    )
    assert deleted.status_code == 303
    assert _activity(demo_app, activity_id) is None
    assert "已删除活动 待删除的咨询" in text_of(client.get(ACTIVITIES).get_data(as_text=True))


def test_an_activity_with_attendance_is_not_deleted(demo_app):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    page = client.get(f"{ACTIVITIES}?status=held").get_data(as_text=True)
    held = re.search(r"/activities/([0-9a-f-]{36})", page).group(1)
    recorded = count_rows(demo_app, Attendance, Attendance.activity_id == uuid.UUID(held))
    assert recorded > 0
    version = str(_activity(demo_app, held).version)
    refused = client.post(
        f"{ACTIVITIES}/{held}/delete", data={"csrf_token": token, "version": version}
    )
    assert refused.status_code == 409
    assert "该活动已有考勤记录" in text_of(refused.get_data(as_text=True))  # the domain's reason
    assert _activity(demo_app, held) is not None
    assert count_rows(demo_app, Attendance, Attendance.activity_id == uuid.UUID(held)) == recorded


def test_a_branch_member_sees_activities_but_is_offered_and_allowed_no_writes(demo_app):
    secretary = signed_in(demo_app, SECRETARY)
    activity_id = _create(secretary, csrf_of(secretary), title="成员只读的咨询")
    member = signed_in(demo_app, BRANCH_MEMBER)
    token = csrf_of(member)
    assert "新增活动" not in member.get(ACTIVITIES).get_data(as_text=True)
    assert "新增活动" not in member.get(f"{ACTIVITIES}/calendar").get_data(as_text=True)
    page = member.get(f"{ACTIVITIES}/{activity_id}").get_data(as_text=True)
    assert "成员只读的咨询" in page and f"{activity_id}/edit" not in page
    before = count_rows(demo_app, Activity)
    assert member.get(f"{ACTIVITIES}/new").status_code == 403
    assert member.post(f"{ACTIVITIES}/new", data=_fields(token)).status_code == 403
    edit = {**_fields(token, title="越权修改"), "version": "1"}
    assert member.post(f"{ACTIVITIES}/{activity_id}/edit", data=edit).status_code == 403
    delete = {"csrf_token": token, "version": "1"}
    assert member.post(f"{ACTIVITIES}/{activity_id}/delete", data=delete).status_code == 403
    assert count_rows(demo_app, Activity) == before
    assert _activity(demo_app, activity_id).title == "成员只读的咨询"


def test_another_branchs_activity_forms_are_404_and_the_zone_cannot_use_them(demo_app):
    secretary = signed_in(demo_app, SECRETARY)
    activity_id = _create(secretary, csrf_of(secretary), title="本支部的咨询")
    other = signed_in(demo_app, f"{OTHER_BRANCH}-secretary")
    assert other.get(f"/t/{OTHER_BRANCH}/activities/{activity_id}/edit").status_code == 404
    assert other.get(f"/t/{OTHER_BRANCH}/activities/{activity_id}/delete").status_code == 404
    assert other.get(f"{ACTIVITIES}/new").status_code == 404
    assert signed_in(demo_app, "zone-admin").get(f"{ACTIVITIES}/new").status_code == 403


def test_english_on_request(demo_app):
    client = signed_in(demo_app, SECRETARY, lang="en")
    page = client.get(f"{ACTIVITIES}/new").get_data(as_text=True)
    assert "Add an activity" in page and "Show the fields for this kind" in page


def _new_member(client, token: str, name: str) -> str:
    created = client.post(
        f"{MEMBERS}/new",
        data={"csrf_token": token, "name": name, "gender": "male", "category": "worker"},
    )
    assert created.status_code == 303
    return created.headers["Location"].rsplit("/", 1)[1]


def test_a_member_is_deleted_after_a_warning_that_names_them_and_their_attendance_goes(
    demo_app,
):
    client = signed_in(demo_app, SECRETARY)
    token = csrf_of(client)
    member_id = _new_member(client, token, "待删除的人")
    page = client.get(f"/t/{BRANCH}/activities?status=held").get_data(as_text=True)
    held = re.search(r"/activities/([0-9a-f-]{36})", page).group(1)
    recorded = client.put(
        f"/api/v1/t/{BRANCH}/activities/{held}/attendance/{member_id}",
        json={"status": "present"},
        headers={"X-CSRF-Token": token},
    )
    assert recorded.status_code == 200, recorded.json
    member_page = client.get(f"{MEMBERS}/{member_id}").get_data(as_text=True)
    assert f"{MEMBERS}/{member_id}/delete" in member_page
    confirm = client.get(f"{MEMBERS}/{member_id}/delete")
    warning = text_of(confirm.get_data(as_text=True))
    assert confirm.status_code == 200 and "待删除的人" in warning and "考勤记录" in warning
    version = re.search(r'name="version" value="(\d+)"', confirm.get_data(as_text=True)).group(1)
    stale = client.post(
        f"{MEMBERS}/{member_id}/delete", data={"csrf_token": token, "version": "999"}
    )
    assert stale.status_code == 409
    assert count_rows(demo_app, Member, Member.id == uuid.UUID(member_id)) == 1
    deleted = client.post(
        f"{MEMBERS}/{member_id}/delete", data={"csrf_token": token, "version": version}
    )
    assert deleted.status_code == 303
    assert count_rows(demo_app, Member, Member.id == uuid.UUID(member_id)) == 0
    assert count_rows(demo_app, Attendance, Attendance.member_id == uuid.UUID(member_id)) == 0
    assert "已删除人员 待删除的人" in text_of(client.get(MEMBERS).get_data(as_text=True))


def test_a_branch_member_cannot_delete_a_member(demo_app):
    secretary = signed_in(demo_app, SECRETARY)
    member_id = _new_member(secretary, csrf_of(secretary), "不可删除的人")
    reader = signed_in(demo_app, BRANCH_MEMBER)
    assert f"{member_id}/delete" not in reader.get(f"{MEMBERS}/{member_id}").get_data(as_text=True)
    assert reader.get(f"{MEMBERS}/{member_id}/delete").status_code == 403
    refused = reader.post(
        f"{MEMBERS}/{member_id}/delete", data={"csrf_token": csrf_of(reader), "version": "1"}
    )
    assert refused.status_code == 403
    assert count_rows(demo_app, Member, Member.id == uuid.UUID(member_id)) == 1
    other = signed_in(demo_app, f"{OTHER_BRANCH}-secretary")
    assert other.get(f"/t/{OTHER_BRANCH}/members/{member_id}/delete").status_code == 404
