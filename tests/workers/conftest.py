"""Fixtures for the job machinery: a real Redis (db 15, flushed around each test), apps with and
without Redis that carry a test-only write endpoint, and test-only jobs registered per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Blueprint, g, request

from service import create_app
from tests.conftest import REDIS_URL, Caller
from workers import jobs

needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="PMSC_TEST_REDIS_URL is not set (CI sets it to a real Redis, db 15)"
)

# what test jobs did, in this process (rq's SimpleWorker runs them here too)
CALLS: list[tuple[str, uuid.UUID | None, dict]] = []


def _test_endpoint() -> Blueprint:
    """A branch write that records a job in its transaction; `fail` makes it a 422 (rollback)."""
    bp = Blueprint("outbox_test", __name__)

    @bp.post("/api/v1/t/<tenant_slug>/test-outbox")
    def record_job():
        from service.database import db
        from workers.outbox import record

        body = request.get_json()
        for _ in range(body.get("count", 1)):
            record(
                db.session,
                job=body["job"],
                queue=body.get("queue", "default"),
                tenant_id=g.tenant.id,
                payload=body.get("payload"),
                coalesce_key=body.get("key"),
            )
        if body.get("fail"):
            return {"message": "refused"}, 422
        return {"recorded": body.get("count", 1)}, 201

    return bp


def build_app(env: dict[str, str]):
    app = create_app(env)
    app.register_blueprint(_test_endpoint())
    return app


def dispose(app) -> None:
    from service.database import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def jobs_app(app_env):
    """The session's database, no Redis (jobs run in-process), with the test endpoint."""
    application = build_app(app_env)
    yield application
    dispose(application)


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("PMSC_TEST_REDIS_URL is not set (CI sets it to a real Redis, db 15)")
    from workers.connection import redis_connection

    connection = redis_connection(REDIS_URL)
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()


@pytest.fixture
def redis_app(app_env, redis_url):
    """The session's database with Redis: the worker's relay moves the outbox."""
    application = build_app({**app_env, "PMSC_REDIS_URL": redis_url})
    jobs.use_app(application)
    yield application
    dispose(application)


@pytest.fixture
def register():
    """`register(name, func, **options)`: a test-only job, forgotten after the test."""
    names = []

    def add(name: str, func, **options):
        jobs.job(name, **options)(func)
        names.append(name)
        return name

    CALLS.clear()
    yield add
    for name in names:
        jobs.unregister(name)
    CALLS.clear()


@pytest.fixture
def recording_job(register):
    """A job that notes its call; returns its name."""

    def note(session, *, tenant_id, **payload):
        CALLS.append(("note", tenant_id, payload))

    return register(f"test.note.{uuid.uuid4().hex[:8]}", note)


def caller(app, issuer, tenant) -> Caller:
    return Caller(app.test_client(), issuer.token([f"pmsc:branch:{tenant.slug}:admin"]))


def outbox_rows(app, **where):
    """Every outbox row (optionally filtered by column values), oldest first."""
    from sqlalchemy import select

    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context
    from workers.models import OutboxMessage

    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        for column, value in where.items():
            query = query.where(getattr(OutboxMessage, column) == value)
        rows = list(session.scalars(query))
        session.close()
    return rows


def work(redis_url: str, *, with_scheduler: bool = True) -> None:
    """Run rq's SimpleWorker in this process until the queues are empty."""
    from rq import SimpleWorker

    from workers.connection import redis_connection
    from workers.queues import QUEUE_NAMES, queues

    connection = redis_connection(redis_url)
    by_name = queues(redis_url, connection)
    SimpleWorker([by_name[n] for n in QUEUE_NAMES], connection=connection).work(
        burst=True, with_scheduler=with_scheduler
    )
    connection.close()


@pytest.fixture(autouse=True)
def empty_outbox(jobs_app):
    """Each test starts with an empty outbox (rows are shared by the session's database), and
    jobs run outside a request run in the session's app."""
    jobs.use_app(jobs_app)
    from sqlalchemy import delete

    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context
    from workers.models import OutboxMessage

    with jobs_app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        session.execute(delete(OutboxMessage))
        session.commit()
        session.close()


PMSC = Path(sys.executable).with_name("pmsc")


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`pmsc worker`, its output captured (the relay and each job's work horse are its children)."""
    return subprocess.Popen(
        [str(PMSC), "worker"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
