"""Domain messages that carry values (an age, a date, a count, a name, a role, a status) are
shown in the page's language with the values filled in, while the API keeps answering the same
English text; the sign-in page's configuration message comes from the catalogue too."""

from __future__ import annotations

import copy
import json
import re
import uuid

from service.activities.models import ActivityStatus
from service.messages import Msg, msg
from tests.web.conftest import BRANCH, BRANCH_MEMBER, SECRETARY, csrf_of, signed_in, text_of

MEMBERS = f"/t/{BRANCH}/members"
API_MEMBERS = f"/api/v1/t/{BRANCH}/members"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_card(birth: str, serial: str = "123") -> str:
    """A valid ID-card number (check digit included) for a birth date `YYYYMMDD`; an odd
    serial's last digit is a man's."""
    body = f"320505{birth}{serial}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _member_form(**fields) -> dict:
    return {"name": "消息测试", "gender": "male", "category": "party-member", **fields}


def _added_both_ways(client, fields: dict):
    """The member `fields` posted to the page's form and to the API: both answers."""
    page = client.post(f"{MEMBERS}/new", data={"csrf_token": csrf_of(client), **fields})
    api = client.post(API_MEMBERS, json=fields, headers={"X-CSRF-Token": csrf_of(client)})
    return page, api


def test_a_message_is_english_text_that_keeps_its_template_and_values():
    message = msg(
        "The zone activity is %(status)s: registration is closed.", status=ActivityStatus.HELD
    )
    assert message == "The zone activity is held: registration is closed."
    assert isinstance(message, str) and message.params == {"status": ActivityStatus.HELD}
    assert (
        json.dumps({"message": message})
        == '{"message": "The zone activity is held: registration is closed."}'
    )
    copied = copy.deepcopy(message)  # as a str subclass survives copying
    assert copied == message and copied.template == message.template
    assert msg("100% sure") == "100% sure"  # no values: the template is the text, untouched
    assert isinstance(msg("x"), Msg)


def test_a_chinese_form_shows_the_age_rule_with_its_age_and_the_api_stays_english(demo_app):
    client = signed_in(demo_app, SECRETARY)
    fields = _member_form(
        birth_date="2000-05-01", party_status="full", joined_party_date="2010-05-01"
    )
    page, api = _added_both_ways(client, fields)
    assert page.status_code == 422
    assert "年满 18 岁方可入党。" in page.get_data(as_text=True)
    assert api.status_code == 422
    assert api.json["errors"]["json"]["joined_party_date"] == [
        "A member joins the party at 18 or older."
    ]


def test_the_id_card_mismatch_names_the_card_s_birth_date_in_each_language(demo_app):
    client = signed_in(demo_app, SECRETARY)
    fields = _member_form(
        category="worker", birth_date="1990-01-01", id_card_number=_id_card("19900307")
    )
    chinese = client.post(f"{MEMBERS}/new", data={"csrf_token": csrf_of(client), **fields})
    assert "与身份证号不符（1990-03-07）。" in chinese.get_data(as_text=True)
    english = signed_in(demo_app, SECRETARY, lang="en")
    page = english.post(f"{MEMBERS}/new", data={"csrf_token": csrf_of(english), **fields})
    assert "Does not match the ID-card number (1990-03-07)." in page.get_data(as_text=True)
    api = client.post(API_MEMBERS, json=fields, headers={"X-CSRF-Token": csrf_of(client)})
    assert api.json["errors"]["json"]["birth_date"] == [
        "Does not match the ID-card number (1990-03-07)."
    ]
    assert "birth_date: Does not match the ID-card number (1990-03-07)." in api.json["message"]


def test_a_not_found_page_names_the_missing_object_in_chinese_and_the_api_in_english(demo_app):
    client = signed_in(demo_app, SECRETARY)
    missing = uuid.uuid4()
    page = client.get(f"{MEMBERS}/{missing}")
    assert page.status_code == 404
    assert f"本支部没有人员 {missing}。" in text_of(page.get_data(as_text=True))
    api = client.get(f"{API_MEMBERS}/{missing}")
    assert api.status_code == 404 and api.json["message"] == f"No member {missing} in this branch."


def test_the_party_group_conflict_is_chinese_on_the_page_and_english_in_the_api(demo_app):
    client = signed_in(demo_app, SECRETARY)
    groups = client.get(f"/api/v1/t/{BRANCH}/party-groups").json
    group = next(g for g in groups if g["member_count"] > 0)
    etag = client.get(f"/api/v1/t/{BRANCH}/party-groups/{group['id']}").headers["ETag"]
    api = client.delete(
        f"/api/v1/t/{BRANCH}/party-groups/{group['id']}",
        headers={"X-CSRF-Token": csrf_of(client), "If-Match": etag},
    )
    assert api.status_code == 409
    count = group["member_count"]
    assert api.json["message"] == f"The party group still has {count} member(s); move them first."
    page = client.post(
        f"/t/{BRANCH}/party-groups/{group['id']}/delete",
        data={"csrf_token": csrf_of(client), "version": group["version"]},
    )
    assert f"该党小组还有 {count} 名成员，请先将他们调出。" in text_of(page.get_data(as_text=True))


def test_a_write_the_roles_do_not_allow_is_refused_in_chinese_and_in_english_by_the_api(demo_app):
    member = signed_in(demo_app, BRANCH_MEMBER)
    page = member.get(f"{MEMBERS}/new")
    assert page.status_code == 403
    assert "您的角色无权执行 members:write。" in text_of(page.get_data(as_text=True))
    api = member.post(API_MEMBERS, json=_member_form(), headers={"X-CSRF-Token": csrf_of(member)})
    assert api.status_code == 403
    assert api.json["message"] == "Your roles do not allow members:write."


def test_a_zone_role_is_sent_to_the_zone_view_in_chinese_and_in_english_by_the_api(demo_app):
    committee = signed_in(demo_app, "zone-admin")
    page = committee.get(f"/t/{BRANCH}/")
    assert page.status_code == 403
    assert "工委角色在工委视图中查看各支部的统计数据" in text_of(page.get_data(as_text=True))
    api = committee.get(API_MEMBERS)
    assert api.status_code == 403
    assert api.json["message"] == (
        "Zone roles see branches' figures in the zone view, not the records of a branch's space."
    )


def test_a_wrong_id_card_check_digit_is_named_in_chinese_and_in_english_by_the_api(demo_app):
    client = signed_in(demo_app, SECRETARY)
    valid = _id_card("19900307")
    wrong = valid[:-1] + ("1" if valid[-1] != "1" else "2")
    fields = _member_form(category="worker", id_card_number=wrong)
    page, api = _added_both_ways(client, fields)
    assert page.status_code == 422
    assert "身份证号校验位错误，请核对号码。" in page.get_data(as_text=True)
    assert api.status_code == 422
    assert api.json["errors"]["json"]["id_card_number"] == [
        "The ID-card number's check digit is wrong; please check the number."
    ]


def test_the_sign_in_page_says_single_sign_on_is_not_configured_from_the_catalogue(client):
    chinese = client.get("/login")
    assert chinese.status_code == 503
    assert "单点登录尚未配置（PMSC_OIDC_CLIENT_ID）。" in chinese.get_data(as_text=True)
    english = client.get("/login?lang=en")
    text = english.get_data(as_text=True)
    assert "Single sign-on is not configured yet (PMSC_OIDC_CLIENT_ID)." in text
    assert not re.search(r"[\u4e00-\u9fff]{2}", text.split("<main")[1].split("</main>")[0])
