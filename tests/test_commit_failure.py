"""A request whose COMMIT fails because the database goes away answers 503 in the error shape,
like a failure during the view, not a 500 (PostgreSQL: a deferred constraint trigger raises
`admin_shutdown` at commit, as a server shutting down would)."""

from __future__ import annotations

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import text

from service import create_app
from service.database import db
from tenants.context import Context
from tenants.isolation import bind_context

SETUP = [
    "CREATE TEMP TABLE commit_probe (x int) ON COMMIT DROP",
    "CREATE FUNCTION pg_temp.shut_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'terminating connection due to administrator command' "
    "USING ERRCODE = 'admin_shutdown'; END $$",
    "CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON commit_probe "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.shut_down()",
    "INSERT INTO commit_probe VALUES (1)",
]


@pytest.fixture(scope="module")
def probe_app(app_env, backend):
    if backend != "postgresql":
        pytest.skip("the deferred trigger is PostgreSQL's")
    application = create_app(app_env)
    # as in production: testing apps re-raise unhandled errors instead of answering them
    application.config["PROPAGATE_EXCEPTIONS"] = False
    probe = Blueprint("commit_probe", __name__)

    @probe.post("/api/v1/commit-probe")
    def fail_at_commit():
        bind_context(db.session, Context.system())
        for statement in SETUP:
            db.session.connection().execute(text(statement))
        return jsonify({"written": True}), 201

    application.register_blueprint(probe)
    yield application
    with application.app_context():
        db.engine.dispose()


def test_a_commit_that_loses_the_database_answers_503_with_retry_after(probe_app):
    response = probe_app.test_client().post("/api/v1/commit-probe", json={})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["code"] == 503 and "database" in body["message"]
