"""Fixtures for the pages: one demo zone per backend (the seven demo branches with a year of
activities, rollups computed), served by an app with the development login on; clients signed
in as its demo users; reading the database in a branch's or the zone's context; and the browser
fixtures (a live server of the demo app, headless chromium through Playwright).

The browser tests are skipped where chromium is missing, unless `PMSC_REQUIRE_BROWSER=1` (CI),
where that fails. Screenshots go to `test-artifacts/browser/` (or
`$PMSC_TEST_ARTIFACTS/browser/`)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from service import create_app, schema_migrations
from service.audit.recorder import set_actor
from service.config import Settings
from service.database import db
from service.demo import seed_demo_zone
from service.rollups.jobs import recompute_tenants
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.registry import Tenant
from tests.conftest import drop_pg_database, environment

BRANCH = "hengtong-optics"
OTHER_BRANCH = "jinhe-chemical"
SECRETARY = f"{BRANCH}-secretary"
BRANCH_MEMBER = f"{BRANCH}-member"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PMSC_TEST_ARTIFACTS", "test-artifacts")) / "browser"
T = TypeVar("T")


@contextmanager
def dev_login_app(
    backend: str, tmp: Path, *, actor: str, seed: Callable[[Session], object]
) -> Iterator[Flask]:
    """An app with the development login over a fresh database of `backend` that `seed(session)`
    filled (audited as `actor`); the database is dropped afterwards."""
    env, name = environment(backend, tmp, PMSC_ENV="development", PMSC_DEV_LOGIN="1")
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    app = create_app(env)
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        set_actor(session, {"iss": None, "sub": actor, "name": None})
        seed(session)
        session.commit()
        session.close()
    yield app
    with app.app_context():
        db.engine.dispose()
    if name:
        drop_pg_database(name)


@pytest.fixture(scope="package")
def demo_app(backend: str, tmp_path_factory) -> Iterator[Flask]:
    """The demo zone, seeded and computed once per backend for every page test."""
    tmp = tmp_path_factory.mktemp(f"web-{backend}")
    with dev_login_app(backend, tmp, actor="test:web", seed=seed_demo_zone) as app:
        with app.app_context():
            recompute_tenants()
        yield app


def signed_in(app: Flask, user: str, *, lang: str | None = None) -> FlaskClient:
    """A browser-like client signed in through the development login as demo `user`."""
    client = app.test_client()
    response = client.post(f"/dev/login/{user}")
    assert response.status_code == 302, response.get_data(as_text=True)
    if lang:
        client.get(f"/?lang={lang}")
    return client


def csrf_of(client: FlaskClient) -> str:
    return client.get("/api/v1/me").json["csrf_token"]


def create_zone_activity(app: Flask, **fields: Any) -> str:
    """A zone activity the committee organises (through the API, as its admin); its id."""
    admin = signed_in(app, "zone-admin")
    made = admin.post(
        "/api/v1/zone/activities", json=fields, headers={"X-CSRF-Token": csrf_of(admin)}
    )
    assert made.status_code == 201, made.json
    return made.json["id"]


def text_of(html: str) -> str:
    """A page's visible text, spaces collapsed (for asserting on what a person reads)."""
    without_data = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_data))


def in_zone(app: Flask, read: Callable[[Session], T]) -> T:
    """`read(session)` in the zone's context, on a session of its own (nothing written)."""
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.zone())
        try:
            return read(session)
        finally:
            session.rollback()
            session.close()


def in_branch(app: Flask, read: Callable[[Session], T], *, slug: str = BRANCH) -> T:
    """`read(session)` in branch `slug`'s own context, on a session of its own (nothing
    written)."""

    def in_its_context(session: Session) -> T:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        bind_context(session, Context.tenant(tenant_id))
        return read(session)

    return in_zone(app, in_its_context)


def branch_id(app: Flask, slug: str = BRANCH) -> Any:
    """Branch `slug`'s tenant id."""
    return in_zone(app, lambda s: s.scalar(select(Tenant.id).where(Tenant.slug == slug)))


def count_rows(app: Flask, model, *where, slug: str = BRANCH) -> int:
    """How many rows of `model` (matching `where`) branch `slug` sees."""
    return in_branch(app, lambda s: s.scalar(select(func.count(model.id)).where(*where)), slug=slug)


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


def shot(page, name: str) -> None:
    """A screenshot of the browser page, kept with the test's artifacts."""
    page.screenshot(path=str(page.screenshots / f"{name}.png"))


def browser_sign_in(page, live_url: str, user: str) -> None:
    """Sign in the browser page as demo `user` through the development login."""
    page.goto(f"{live_url}/")
    page.get_by_role("link", name="开发登录：选择演示用户").click()
    page.locator(f'button[data-user="{user}"]').click()
    page.wait_for_load_state()
