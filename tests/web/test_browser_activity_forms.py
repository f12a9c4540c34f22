"""The activity form and the branch's zone activities in a real browser (Debian's chromium,
headless, through Playwright): an activity saved after a validation error, the kind's own
fields following the kind with scripts on and through the server without; members registered
for a zone activity from the multi-select. The browser fixtures are in `conftest.py`."""

from __future__ import annotations

from tests.web.conftest import browser_sign_in, create_zone_activity, shot
from tests.web.test_browser import BRANCH, SECRETARY


def test_an_activity_is_saved_after_a_validation_error(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    page.get_by_role("navigation", name="支部").get_by_role("link", name="活动", exact=True).click()
    page.get_by_role("link", name="新增活动").first.click()
    assert not page.get_by_label("咨询主题").is_visible()
    assert not page.get_by_role("button", name="显示此类型的字段").is_visible()  # scripts on
    page.get_by_label("类型 *").select_option("consultation")
    assert page.get_by_label("咨询主题").is_visible()  # follows the kind at once
    assert not page.get_by_label("节日").is_visible()
    page.get_by_label("开始时间 *").fill("2026-10-12T14:00")
    page.get_by_label("结束时间 *").fill("2026-10-12T13:00")
    page.get_by_label("名额").fill("20")
    page.get_by_role("button", name="保存", exact=True).click()
    assert page.locator("#e-title").inner_text() == "此项必填。"
    assert page.get_by_label("咨询主题").is_visible()  # still shown for the chosen kind
    shot(page, "1-activity-form-errors")
    # the fields' own checks passed: the rules across fields speak next
    page.get_by_label("名称 *").fill("浏览器心理咨询")
    page.get_by_role("button", name="保存", exact=True).click()
    assert page.locator("#e-ends_at").inner_text() == "不能早于开始时间。"
    assert page.locator("#e-consultation_topic").is_visible()
    shot(page, "2-activity-form-rule-errors")
    page.get_by_label("咨询主题").select_option("psychology")
    page.get_by_label("结束时间 *").fill("2026-10-12T16:00")
    page.get_by_role("button", name="保存", exact=True).click()
    assert page.get_by_role("heading", name="浏览器心理咨询").is_visible()
    assert page.get_by_text("已新增活动 浏览器心理咨询").is_visible()
    assert page.get_by_text("心理", exact=True).is_visible()
    shot(page, "3-activity-page")

    page.get_by_role("link", name="编辑", exact=True).click()
    assert page.get_by_label("开始时间 *").input_value() == "2026-10-12T14:00"
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "4-activity-form-phone")


def test_without_scripts_the_kinds_fields_come_from_the_server(browser, live_url):
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()  # a page of its own, scripts off
    try:
        browser_sign_in(page, live_url, SECRETARY)
        page.goto(f"{live_url}/t/{BRANCH}/activities/new")
        page.get_by_label("类型 *").select_option("cultural-sports")
        assert not page.get_by_label("节日").is_visible()
        page.get_by_role("button", name="显示此类型的字段").click()
        assert page.get_by_label("节日").is_visible()
        assert page.get_by_label("类型 *").input_value() == "cultural-sports"
    finally:
        context.close()


def test_a_secretary_registers_members_for_a_zone_activity(demo_app, page, live_url):
    create_zone_activity(
        demo_app,
        kind="volunteer-service",
        title="浏览器志愿服务",
        starts_at="2099-05-01T09:00:00+08:00",
        ends_at="2099-05-01T11:00:00+08:00",
        capacity=30,
    )
    browser_sign_in(page, live_url, SECRETARY)
    page.get_by_role("navigation", name="支部").get_by_role("link", name="全区活动").click()
    page.get_by_role("link", name="浏览器志愿服务").click()
    assert page.get_by_text("30 / 30（全区）").is_visible()
    choices = page.get_by_label("报名人员")
    values = choices.locator("option").evaluate_all("options => options.map(o => o.value)")
    choices.select_option(values[:2])
    page.get_by_role("button", name="报名", exact=True).click()
    assert page.get_by_text("已报名 2 人").is_visible()
    assert page.locator("#registrations tbody tr").count() == 2
    assert page.get_by_text("28 / 30（全区）").is_visible()
    shot(page, "1-zone-activity-registered")
    first = page.locator("#registrations tbody th").first.inner_text()
    page.get_by_role("button", name=f"撤销 {first} 的报名").click()
    assert page.get_by_text(f"已撤销 {first} 的报名").is_visible()
    assert page.locator("#registrations tbody tr").count() == 1
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "2-zone-activity-phone")
