"""Fixtures for the pages: one demo zone per backend (the seven demo branches with a year of
activities, rollups computed), served by an app with the development login on; and clients
signed in as its demo users."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app, schema_migrations
from service.audit.recorder import set_actor
from service.config import Settings
from service.database import db
from service.demo import seed_demo_zone
from service.rollups.jobs import recompute_tenants
from tenants.context import Context
from tenants.isolation import bind_context
from tests.conftest import drop_pg_database, environment

BRANCH = "hengtong-optics"
OTHER_BRANCH = "jinhe-chemical"
SECRETARY = f"{BRANCH}-secretary"
BRANCH_MEMBER = f"{BRANCH}-member"


@pytest.fixture(scope="package")
def demo_app(backend: str, tmp_path_factory) -> Iterator[Flask]:
    """The demo zone, seeded and computed once per backend for every page test."""
    env, name = environment(
        backend,
        tmp_path_factory.mktemp(f"web-{backend}"),
        PMSC_ENV="development",
        PMSC_DEV_LOGIN="1",
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    app = create_app(env)
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        set_actor(session, {"iss": None, "sub": "test:web", "name": None})
        seed_demo_zone(session)
        session.commit()
        session.close()
        recompute_tenants()
    yield app
    with app.app_context():
        db.engine.dispose()
    if name:
        drop_pg_database(name)


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


def text_of(html: str) -> str:
    """A page's visible text, spaces collapsed (for asserting on what a person reads)."""
    without_data = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without_data))
