"""The pages in a real browser (Debian's chromium, headless, through Playwright): sign-in, a
member created after a validation error, attendance taken, the zone ranking with its chart
drawn; a branch user kept out of another branch (404) and the zone view (403). Screenshots go
to `test-artifacts/browser/` (or `$PMSC_TEST_ARTIFACTS/browser/`).

Skipped where chromium is missing, unless `PMSC_REQUIRE_BROWSER=1` (CI), where that fails."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.web.conftest import OTHER_BRANCH

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# a small demo branch: its pages (attendance lists the whole roster) draw quickly
BRANCH = "lvyuan-food"
SECRETARY = f"{BRANCH}-secretary"
ARTIFACTS = Path(os.environ.get("PMSC_TEST_ARTIFACTS", "test-artifacts")) / "browser"


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = "chromium is not installed (apt-get install chromium fonts-noto-cjk)"
    if os.environ.get("PMSC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PMSC_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def live_url(demo_app) -> Iterator[str]:
    """The demo app served on a free loopback port by a thread of this process."""
    server = make_server("127.0.0.1", 0, demo_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(live_url) -> Iterator:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, backend: str, request):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.screenshots = ARTIFACTS / f"{request.node.originalname}-{backend}"
    opened.screenshots.mkdir(parents=True, exist_ok=True)
    yield opened
    context.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(page.screenshots / f"{name}.png"))


def _sign_in(page, live_url: str, user: str) -> None:
    page.goto(f"{live_url}/")
    page.get_by_role("link", name="开发登录：选择演示用户").click()
    page.locator(f'button[data-user="{user}"]').click()
    page.wait_for_load_state()


def test_a_secretary_signs_in_adds_a_member_after_an_error_and_takes_attendance(page, live_url):
    _sign_in(page, live_url, SECRETARY)
    assert page.url == f"{live_url}/t/{BRANCH}/"
    assert page.get_by_text("花名册人数").is_visible()
    _shot(page, "1-branch-home")

    page.get_by_role("link", name="花名册", exact=True).click()
    page.get_by_role("link", name="新增人员").click()
    page.get_by_label("性别 *").select_option("female")
    page.get_by_label("类别 *").select_option("worker")
    page.get_by_label("电话").fill("12345")
    page.get_by_role("button", name="保存").click()
    assert page.locator("#e-name").inner_text() == "此项必填。"
    assert page.locator("#e-phone").is_visible()
    _shot(page, "2-member-form-errors")
    page.get_by_label("姓名 *").fill("浏览器新人")
    page.get_by_label("电话").fill("13800138000")
    page.get_by_role("button", name="保存").click()
    assert page.get_by_role("heading", name="浏览器新人").is_visible()
    assert page.get_by_text("已新增 浏览器新人").is_visible()
    _shot(page, "3-member-page")

    page.get_by_role("navigation", name="支部").get_by_role("link", name="活动").click()
    page.get_by_label("状态").select_option("held")
    page.get_by_role("button", name="查询").click()
    page.locator("table tbody tr td a").first.click()
    first = page.locator("table tbody select").first
    first.select_option("excused")
    page.locator("table tbody input").first.fill("出差")
    page.get_by_role("button", name="保存考勤").click()
    assert page.get_by_text("考勤已保存").is_visible()
    assert page.locator("table tbody select").first.input_value() == "excused"
    _shot(page, "4-attendance-taken")

    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(f"{live_url}/t/{BRANCH}/")
    # nothing wider than a phone's screen but the tables' own scrolling boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(page, "5-branch-home-phone")


def test_a_branch_user_is_kept_out_of_other_branches_and_the_zone_view(page, live_url):
    _sign_in(page, live_url, SECRETARY)
    assert page.goto(f"{live_url}/t/{OTHER_BRANCH}/").status == 404
    assert page.goto(f"{live_url}/zone/rankings").status == 403
    _shot(page, "zone-refused")


def test_a_committee_member_sees_the_rankings_with_the_chart_drawn(page, live_url):
    _sign_in(page, live_url, "zone-viewer")
    assert page.url == f"{live_url}/zone/"
    page.get_by_role("navigation", name="工委视图").get_by_role("link", name="排名").click()
    page.wait_for_selector('#ranking-chart[data-rendered="true"] canvas')
    box = page.locator("#ranking-chart canvas").first.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    assert page.locator("#ranking-table tbody tr").count() == 7
    assert page.get_by_text("数据计算于").is_visible()
    _shot(page, "rankings-chart")
    page.get_by_label("企业类型").select_option("foreign-funded")
    page.get_by_role("button", name="显示").click()
    assert page.locator("#ranking-table tbody tr").count() == 1
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="Rankings (").is_visible()
    _shot(page, "rankings-english")
