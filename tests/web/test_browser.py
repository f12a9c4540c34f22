"""The pages in a real browser (Debian's chromium, headless, through Playwright): sign-in, a
member created after a validation error, attendance taken, the zone ranking with its chart
drawn; a branch user kept out of another branch (404) and the zone view (403). The browser
fixtures, and where screenshots go, are in `conftest.py`."""

from __future__ import annotations

from tests.web.conftest import OTHER_BRANCH, browser_sign_in, shot

# a small demo branch: its pages (attendance lists the whole roster) draw quickly
BRANCH = "lvyuan-food"
SECRETARY = f"{BRANCH}-secretary"


def test_a_secretary_signs_in_adds_a_member_after_an_error_and_takes_attendance(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    assert page.url == f"{live_url}/t/{BRANCH}/"
    assert page.get_by_text("花名册人数").is_visible()
    shot(page, "1-branch-home")

    page.get_by_role("link", name="花名册", exact=True).click()
    page.get_by_role("link", name="新增人员").click()
    page.get_by_label("性别 *").select_option("female")
    page.get_by_label("类别 *").select_option("worker")
    page.get_by_label("电话").fill("12345")
    page.get_by_role("button", name="保存").click()
    assert page.locator("#e-name").inner_text() == "此项必填。"
    assert page.locator("#e-phone").is_visible()
    shot(page, "2-member-form-errors")
    page.get_by_label("姓名 *").fill("浏览器新人")
    page.get_by_label("电话").fill("13800138000")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_role("heading", name="浏览器新人").is_visible()
    assert page.get_by_text("已新增 浏览器新人").is_visible()
    shot(page, "3-member-page")

    page.get_by_role("navigation", name="支部").get_by_role("link", name="活动", exact=True).click()
    page.get_by_label("状态").select_option("held")
    page.get_by_role("button", name="查询").click()
    page.locator("table tbody tr td a").first.click()
    first = page.locator("table tbody select").first
    first.select_option("excused")
    page.locator("table tbody input").first.fill("出差")
    page.get_by_role("button", name="保存考勤").click()
    assert page.get_by_text("考勤已保存").is_visible()
    assert page.locator("table tbody select").first.input_value() == "excused"
    shot(page, "4-attendance-taken")

    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(f"{live_url}/t/{BRANCH}/")
    # nothing wider than a phone's screen but the tables' own scrolling boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "5-branch-home-phone")


def test_a_branch_user_is_kept_out_of_other_branches_and_the_zone_view(page, live_url):
    browser_sign_in(page, live_url, SECRETARY)
    assert page.goto(f"{live_url}/t/{OTHER_BRANCH}/").status == 404
    assert page.goto(f"{live_url}/zone/rankings").status == 403
    shot(page, "zone-refused")


def test_a_committee_member_sees_the_rankings_with_the_chart_drawn(page, live_url):
    browser_sign_in(page, live_url, "zone-viewer")
    assert page.url == f"{live_url}/zone/"
    page.get_by_role("navigation", name="工委视图").get_by_role("link", name="排名").click()
    page.wait_for_selector('#ranking-chart[data-rendered="true"] canvas')
    box = page.locator("#ranking-chart canvas").first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    assert page.locator("#ranking-table tbody tr").count() == 7
    assert page.get_by_text("数据计算于").is_visible()
    shot(page, "rankings-chart")
    page.get_by_label("企业类型").select_option("foreign-funded")
    page.get_by_role("button", name="显示").click()
    assert page.locator("#ranking-table tbody tr").count() == 1
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="Rankings (").is_visible()
    shot(page, "rankings-english")
