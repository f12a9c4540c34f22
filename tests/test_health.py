"""`/healthz` (the process answers) and `/readyz` (the database, and Redis when configured).

Readiness is checked against real services: the test database, the real Redis when
`PMSC_TEST_REDIS_URL` is set, and closed ports or a vanished folder for the outages.
"""

from __future__ import annotations

import shutil

import pytest

from service import create_app
from tests.conftest import REDIS_URL, environment

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="PMSC_TEST_REDIS_URL is not set")


@pytest.fixture
def build():
    """`build(env)`: an app of its own; its engine is disposed afterwards."""
    apps = []

    def build(env: dict[str, str]):
        app = create_app(env)
        apps.append(app)
        return app.test_client()

    yield build
    from service.database import db

    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_healthz_answers_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok"}}


@needs_redis
def test_readyz_checks_redis_when_it_is_configured(app_env, build):
    response = build({**app_env, "PMSC_REDIS_URL": REDIS_URL}).get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_down(app_env, build):
    response = build({**app_env, "PMSC_REDIS_URL": "redis://:redis-pw@127.0.0.1:1/0"}).get(
        "/readyz"
    )
    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "checks": {"database": "ok", "redis": "unavailable"},
    }
    assert "redis-pw" not in response.get_data(as_text=True)


def test_readyz_is_503_when_the_sqlite_folder_is_gone(tmp_path, build):
    folder = tmp_path / "volume"
    folder.mkdir()
    env, _ = environment("sqlite", folder)
    client = build(env)
    shutil.rmtree(folder)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "checks": {"database": "unavailable"}}
    assert client.get("/healthz").status_code == 200  # the process itself still answers


def test_readyz_is_503_when_postgresql_cannot_be_reached(tmp_path, build):
    env, _ = environment(
        "sqlite", tmp_path, PMSC_DATABASE_URL="postgresql://pmsc:db-secret@127.0.0.1:1/pmsc"
    )
    response = build(env).get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "not ready", "checks": {"database": "unavailable"}}
    assert "db-secret" not in response.get_data(as_text=True)
