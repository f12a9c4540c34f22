"""The development login: a real session for a demo user, a signed token for the API, and the
bookkeeping every sign-in does (the account's audit trail, ended sessions purged)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service import create_app, schema_migrations
from service.access.models import User, UserSession
from service.config import Settings
from service.database import db
from tenants.orm import utcnow
from tests.conftest import environment


@pytest.fixture(scope="module")
def dev_app(tmp_path_factory):
    env, _ = environment(
        "sqlite",
        tmp_path_factory.mktemp("dev"),
        PMSC_ENV="development",
        PMSC_DEV_LOGIN="1",
    )
    schema_migrations.upgrade(Settings.from_env(env))
    return create_app(env)


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_dev_login_opens_a_session_and_lands_a_committee_member_in_the_zone_view(dev_app):
    client = dev_app.test_client()
    response = client.post("/dev/login/zone-admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/zone/"
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/zone/").status_code == 200
    me = client.get("/api/v1/me").json
    assert me["subject"] == "dev:zone-admin"
    assert me["zone_roles"] == ["zone:admin"]
    assert me["csrf_token"]


def test_every_sign_in_is_in_the_zone_audit_log_by_the_person_signing_in(dev_app):
    client = dev_app.test_client()
    client.post("/dev/login/zone-viewer")
    client.post("/dev/login/zone-admin")
    events = client.get("/api/v1/zone/audit?object_type=users&page_size=100").json
    viewer = [e for e in events if e["actor"]["subject"] == "dev:zone-viewer"]
    assert viewer, events
    assert viewer[-1]["action"] == "create"
    assert viewer[-1]["changes"]["groups"]["after"] == ["pmsc:zone:viewer"]


def test_sign_in_purges_sessions_that_have_ended(dev_app):
    client = dev_app.test_client()
    client.post("/dev/login/zone-viewer")
    with dev_app.app_context():
        session = db.new_session()
        stale = session.scalars(select(UserSession)).all()
        for record in stale:
            record.last_seen_at = utcnow() - timedelta(days=2)
        session.commit()
        stale_ids = [r.id for r in stale]
        session.close()
    client.post("/dev/login/zone-admin")
    assert _count(dev_app, UserSession, UserSession.id.in_(stale_ids)) == 0
    assert _count(dev_app, UserSession) >= 1


def test_dev_login_token_page_gives_a_token_the_api_accepts(dev_app):
    client = dev_app.test_client()
    page = client.get("/dev/login/zone-viewer/token")
    assert page.status_code == 200
    token = page.get_data(as_text=True).split("readonly>")[1].split("<")[0].strip()
    me = dev_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["zone_roles"] == ["zone:viewer"]
    assert me.json["csrf_token"] is None


def test_unknown_demo_user_is_404_and_creates_no_account(dev_app):
    before = _count(dev_app, User)
    assert dev_app.test_client().post("/dev/login/nobody").status_code == 404
    assert _count(dev_app, User) == before


def test_the_development_login_does_not_exist_outside_development(app):
    client = app.test_client()
    assert client.get("/dev/login").status_code == 404
    assert client.post("/dev/login/zone-admin").status_code == 404
