"""The branch's side of the zone activities: the list and an activity's page in Chinese, with
the places left across the zone and only this branch's registrations; registering members (all
or none), withdrawing one, recording attendance once held; the domain's refusals shown and
nothing changed; readers see, other branches 404, the committee 403."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from service.activities.models import AttendanceStatus, ZoneRegistration
from tests.web.conftest import (
    BRANCH,
    BRANCH_MEMBER,
    OTHER_BRANCH,
    SECRETARY,
    create_zone_activity,
    csrf_of,
    in_branch,
    in_zone,
    signed_in,
    text_of,
)

ZONE_ACTIVITIES = f"/t/{BRANCH}/zone-activities"


def _zone_activity(app, title: str, *, capacity: int | None, past: bool = False) -> str:
    """A planned zone activity the committee organises (in the past: it can be marked held)."""
    day = "2026-03-10" if past else "2099-09-10"
    return create_zone_activity(
        app,
        kind="expert-lecture",
        title=title,
        training_topic="industry",
        starts_at=f"{day}T14:00:00+08:00",
        ends_at=f"{day}T16:00:00+08:00",
        place="区党群服务中心",
        study_hours=2,
        capacity=capacity,
    )


def _mark_held(app, activity_id: str) -> None:
    admin = signed_in(app, "zone-admin")
    read = admin.get(f"/api/v1/zone/activities/{activity_id}")
    changed = admin.patch(
        f"/api/v1/zone/activities/{activity_id}",
        json={"status": "held"},
        headers={"X-CSRF-Token": csrf_of(admin), "If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.json


def _members(client, slug: str = BRANCH, n: int = 3) -> list[dict]:
    return client.get(f"/api/v1/t/{slug}/members?page_size={n}").json


def _registrations(app, activity_id: str, slug: str = BRANCH) -> list[ZoneRegistration]:
    def read(session) -> list[ZoneRegistration]:
        of_activity = ZoneRegistration.zone_activity_id == uuid.UUID(activity_id)
        rows = list(session.scalars(select(ZoneRegistration).where(of_activity)))
        for row in rows:
            session.expunge(row)
        return rows

    return in_branch(app, read, slug=slug)


def _all_registrations(app, activity_id: str) -> int:
    of_activity = ZoneRegistration.zone_activity_id == uuid.UUID(activity_id)
    return in_zone(
        app, lambda s: s.scalar(select(func.count(ZoneRegistration.id)).where(of_activity))
    )


def _register(client, activity_id: str, member_ids: list[str], slug: str = BRANCH):
    return client.post(
        f"/t/{slug}/zone-activities/{activity_id}/registrations",
        data={"csrf_token": csrf_of(client), "member_id": member_ids},
    )


def test_the_list_and_the_page_are_in_chinese_with_the_places_left(demo_app):
    activity_id = _zone_activity(demo_app, "全区产业讲座", capacity=40)
    client = signed_in(demo_app, SECRETARY)
    home = client.get(f"/t/{BRANCH}/").get_data(as_text=True)
    assert f'href="{ZONE_ACTIVITIES}"' in home and "全区活动" in home
    listed = client.get(ZONE_ACTIVITIES)
    assert listed.status_code == 200
    text = text_of(listed.get_data(as_text=True))
    assert "全区产业讲座" in text and "剩余名额" in text
    page = client.get(f"{ZONE_ACTIVITIES}/{activity_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "报名本支部人员" in html
    assert re.search(r'id="places-left">\s*40 / 40', html)
    assert "产业发展" in text_of(html)  # the training topic, by its name


def test_members_are_registered_withdrawn_and_the_places_left_follow(demo_app):
    activity_id = _zone_activity(demo_app, "报名与撤销", capacity=5)
    client = signed_in(demo_app, SECRETARY)
    first, second, _third = (m["id"] for m in _members(client))
    registered = _register(client, activity_id, [first, second])
    assert registered.status_code == 303
    assert {str(r.member_id) for r in _registrations(demo_app, activity_id)} == {first, second}
    page = client.get(registered.headers["Location"]).get_data(as_text=True)
    assert "已报名 2 人" in text_of(page)
    assert re.search(r'id="places-left">\s*3 / 5', page)
    registration = next(
        r for r in _registrations(demo_app, activity_id) if str(r.member_id) == first
    )
    withdrawn = client.post(
        f"{ZONE_ACTIVITIES}/{activity_id}/registrations/{registration.id}/cancel",
        data={"csrf_token": csrf_of(client)},
    )
    assert withdrawn.status_code == 303
    assert {str(r.member_id) for r in _registrations(demo_app, activity_id)} == {second}


def test_a_full_activity_refuses_the_whole_batch_and_names_the_member(demo_app):
    activity_id = _zone_activity(demo_app, "名额有限", capacity=2)
    other = signed_in(demo_app, f"{OTHER_BRANCH}-secretary")
    assert (
        _register(
            other, activity_id, [_members(other, OTHER_BRANCH, 1)[0]["id"]], OTHER_BRANCH
        ).status_code
        == 303
    )
    client = signed_in(demo_app, SECRETARY)
    first, second, _third = _members(client)
    refused = _register(client, activity_id, [first["id"], second["id"]])
    assert refused.status_code == 409
    text = text_of(refused.get_data(as_text=True))
    assert "未保存任何内容" in text
    # the member refused is named, with the domain's reason in Chinese
    assert re.search(rf"{second['name']}：\S*名额已满.{{0,4}}2 个", text)
    assert f"{first['name']}：" not in text
    assert "本支部尚无人报名" in text  # the page shows the batch undone
    assert _registrations(demo_app, activity_id) == []  # not even the first, who fitted
    assert _all_registrations(demo_app, activity_id) == 1
    # the places left count the other branch, whose registration stays out of sight
    page = client.get(f"{ZONE_ACTIVITIES}/{activity_id}").get_data(as_text=True)
    assert re.search(r'id="places-left">\s*1 / 2', page)
    assert "本支部尚无人报名" in text_of(page)


def test_a_member_of_another_branch_or_none_chosen_is_refused(demo_app):
    activity_id = _zone_activity(demo_app, "只报本支部", capacity=None)
    other = signed_in(demo_app, f"{OTHER_BRANCH}-secretary")
    stranger = _members(other, OTHER_BRANCH, 1)[0]["id"]
    client = signed_in(demo_app, SECRETARY)
    refused = _register(client, activity_id, [_members(client, n=1)[0]["id"], stranger])
    assert refused.status_code == 422
    assert "本支部没有该人员" in text_of(refused.get_data(as_text=True))
    empty = _register(client, activity_id, [])
    assert empty.status_code == 422 and "请至少选择一人" in empty.get_data(as_text=True)
    assert _registrations(demo_app, activity_id) == []
    assert _registrations(demo_app, activity_id, OTHER_BRANCH) == []


def test_attendance_is_recorded_once_the_activity_is_held(demo_app):
    activity_id = _zone_activity(demo_app, "已举行的讲座", capacity=10, past=True)
    client = signed_in(demo_app, SECRETARY)
    first, second = (m["id"] for m in _members(client, n=2))
    assert _register(client, activity_id, [first, second]).status_code == 303
    rows = {str(r.member_id): r for r in _registrations(demo_app, activity_id)}
    early = client.post(
        f"{ZONE_ACTIVITIES}/{activity_id}/attendance",
        data={"csrf_token": csrf_of(client), f"attendance-{rows[first].id}": "present"},
    )
    assert early.status_code == 422
    assert "举行后才能记录考勤" in text_of(early.get_data(as_text=True))
    assert all(r.attendance is None for r in _registrations(demo_app, activity_id))
    _mark_held(demo_app, activity_id)
    page = client.get(f"{ZONE_ACTIVITIES}/{activity_id}").get_data(as_text=True)
    assert "保存考勤" in page and "报名本支部人员" not in page  # registration is closed
    saved = client.post(
        f"{ZONE_ACTIVITIES}/{activity_id}/attendance",
        data={
            "csrf_token": csrf_of(client),
            f"attendance-{rows[first].id}": "present",
            f"attendance-{rows[second].id}": "absent",
        },
    )
    assert saved.status_code == 303
    stored = {str(r.member_id): r.attendance for r in _registrations(demo_app, activity_id)}
    assert stored == {first: AttendanceStatus.PRESENT, second: AttendanceStatus.ABSENT}
    bad = client.post(
        f"{ZONE_ACTIVITIES}/{activity_id}/attendance",
        data={"csrf_token": csrf_of(client), f"attendance-{rows[first].id}": "asleep"},
    )
    assert bad.status_code == 422 and f'id="e-{rows[first].id}"' in bad.get_data(as_text=True)
    withdrawn = client.post(
        f"{ZONE_ACTIVITIES}/{activity_id}/registrations/{rows[first].id}/cancel",
        data={"csrf_token": csrf_of(client)},
    )
    assert withdrawn.status_code == 409  # a held activity's registrations stay on record
    assert len(_registrations(demo_app, activity_id)) == 2


def test_a_branch_member_sees_but_cannot_register(demo_app):
    activity_id = _zone_activity(demo_app, "成员只读", capacity=None)
    reader = signed_in(demo_app, BRANCH_MEMBER)
    page = reader.get(f"{ZONE_ACTIVITIES}/{activity_id}")
    assert page.status_code == 200 and "报名本支部人员" not in page.get_data(as_text=True)
    member_id = _members(reader, n=1)[0]["id"]
    assert _register(reader, activity_id, [member_id]).status_code == 403
    assert _registrations(demo_app, activity_id) == []


def test_other_branches_get_404_and_the_committee_403(demo_app):
    activity_id = _zone_activity(demo_app, "边界检查", capacity=None)
    client = signed_in(demo_app, SECRETARY)
    assert client.get(f"/t/{OTHER_BRANCH}/zone-activities").status_code == 404
    assert client.get(f"/t/{OTHER_BRANCH}/zone-activities/{activity_id}").status_code == 404
    assert client.get(f"{ZONE_ACTIVITIES}/{uuid.uuid4()}").status_code == 404
    viewer = signed_in(demo_app, "zone-viewer")
    assert viewer.get(ZONE_ACTIVITIES).status_code == 403
    assert viewer.get(f"{ZONE_ACTIVITIES}/{activity_id}").status_code == 403
