"""Through a real Redis: the relay moves committed outbox rows to rq (coalesced), a worker runs
them in the tenant's context, failures are retried with a delay and end in the failed registry
(`pmsc jobs failed` / `pmsc jobs retry`), and an outage delays work without losing it."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import pytest
from flask.cli import ScriptInfo
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from service.cli import cli
from service.database import db
from tests.workers.conftest import (
    CALLS,
    build_app,
    caller,
    dispose,
    outbox_rows,
    start_worker,
    work,
)
from workers import periodic, relay
from workers.connection import redis_connection
from workers.queues import queues

DOWN = "redis://127.0.0.1:1/0"


def invoke(app, *args: str):
    result = app.test_cli_runner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_a_committed_write_reaches_the_worker_through_the_relay(
    redis_app, redis_url, issuer, make_branch, recording_job
):
    branch = make_branch()
    client = caller(redis_app, issuer, branch)
    url = f"/api/v1/t/{branch.slug}/test-outbox"
    assert client.post(url, json={"job": recording_job, "fail": True}).status_code == 422
    assert client.post(url, json={"job": recording_job, "payload": {"n": 1}}).status_code == 201
    assert CALLS == []  # with Redis, nothing runs in the web process

    report = relay.relay_once(redis_app, redis_url)
    assert (report.jobs, report.dispatched) == (1, 1)
    work(redis_url)
    assert [("note", branch.id, {"n": 1})] == CALLS
    assert outbox_rows(redis_app, job=recording_job)[0].dispatched_at is not None


def test_many_writes_for_one_branch_queue_one_recompute(
    redis_app, redis_url, issuer, make_branch, recording_job
):
    branch = make_branch()
    client = caller(redis_app, issuer, branch)
    body = {"job": recording_job, "count": 50, "key": f"branch:{branch.id}", "queue": "rollups"}
    assert client.post(f"/api/v1/t/{branch.slug}/test-outbox", json=body).status_code == 201
    report = relay.relay_once(redis_app, redis_url, batch=20)  # across three batches
    assert (report.jobs, report.dispatched, report.coalesced) == (1, 50, 49)
    # more writes while the job is still queued fold into it
    assert client.post(f"/api/v1/t/{branch.slug}/test-outbox", json=body).status_code == 201
    assert relay.relay_once(redis_app, redis_url).jobs == 0
    assert queues(redis_url)["rollups"].count == 1
    work(redis_url)
    assert len(CALLS) == 1
    # once it has run, the next write queues a new one
    assert client.post(f"/api/v1/t/{branch.slug}/test-outbox", json=body).status_code == 201
    assert relay.relay_once(redis_app, redis_url).jobs == 1


def test_a_failing_job_is_retried_with_a_delay_then_listed_and_requeued(
    redis_app, redis_url, make_branch, register
):
    from workers import outbox

    def broken(session, *, tenant_id):
        CALLS.append(("broken", tenant_id, {}))
        raise RuntimeError("branch has no schedule")

    name = register(f"test.broken.{uuid.uuid4().hex[:8]}", broken, retry=(1,))
    branch = make_branch()
    with redis_app.app_context():
        session = db.new_session()
        outbox.record(session, job=name, tenant_id=branch.id)
        session.commit()
        session.close()
    relay.relay_once(redis_app, redis_url)

    work(redis_url)
    assert len(CALLS) == 1
    default = queues(redis_url)["default"]
    assert len(ScheduledJobRegistry(queue=default)) == 1  # the retry waits its delay
    time.sleep(1.2)
    work(redis_url)
    assert len(CALLS) == 2
    failed = FailedJobRegistry(queue=default)
    [job_id] = failed.get_job_ids()

    listed = invoke(redis_app, "jobs", "failed")
    assert job_id in listed and name in listed and str(branch.id) in listed
    assert "RuntimeError: branch has no schedule" in listed
    assert "1 failed job(s)" in listed

    assert "re-queued 1 job(s)" in invoke(redis_app, "jobs", "retry", "--all")
    assert failed.get_job_ids() == [] and default.count == 1
    assert "0 failed job(s)" in invoke(redis_app, "jobs", "failed")


def test_with_redis_down_the_write_succeeds_and_the_work_waits(
    app_env, redis_url, issuer, make_branch, recording_job
):
    down = build_app({**app_env, "PMSC_REDIS_URL": DOWN})
    try:
        branch = make_branch()
        done = caller(down, issuer, branch).post(
            f"/api/v1/t/{branch.slug}/test-outbox", json={"job": recording_job}
        )
        assert done.status_code == 201
        report = relay.relay_once(down, DOWN)
        assert (report.jobs, report.failed) == (0, 1)
        [row] = outbox_rows(down, job=recording_job)
        assert row.dispatched_at is None and row.attempts == 1
        assert "ConnectionError" in row.last_error
        assert str(row.id) in invoke(down, "jobs", "pending")

        # Redis is back
        assert relay.relay_once(down, redis_url).jobs == 1
        work(redis_url)
        assert [("note", branch.id, {})] == CALLS
        assert outbox_rows(down, job=recording_job)[0].dispatched_at is not None
    finally:
        dispose(down)


def test_two_relays_never_take_the_same_rows(redis_app, redis_url, make_branch, recording_job):
    from workers import outbox

    branch = make_branch()
    with redis_app.app_context():
        session = db.new_session()
        for _ in range(3):
            outbox.record(session, job=recording_job, tenant_id=branch.id)
        session.commit()
        session.close()
        if db.engine.dialect.name != "postgresql":
            pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are PostgreSQL's; SQLite serializes")
    holder = relay._session(redis_app)
    try:
        assert len(relay._pending(holder, limit=10, max_attempts=None)) == 3
        assert relay.relay_once(redis_app, redis_url).dispatched == 0  # all locked by holder
    finally:
        holder.rollback()
        holder.close()
    assert relay.relay_once(redis_app, redis_url).dispatched == 3


def test_periodic_jobs_are_due_once_per_period(redis_url):
    nightly = periodic.Periodic("n", job="x", daily_at=clock(2, 0))
    assert nightly.last_due(datetime(2026, 3, 2, 17, 59, tzinfo=UTC)) == datetime(
        2026, 3, 1, 18, 0, tzinfo=UTC
    )  # 01:59 zone time: yesterday's 02:00
    assert nightly.last_due(datetime(2026, 3, 2, 18, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 18, 0, tzinfo=UTC
    )
    hourly = periodic.Periodic("h", job="x", every=timedelta(hours=1))
    assert hourly.last_due(datetime(2026, 3, 2, 5, 42, tzinfo=UTC)) == datetime(
        2026, 3, 2, 5, 0, tzinfo=UTC
    )
    connection = redis_connection(redis_url)
    first = periodic.enqueue_due(redis_url, connection)
    assert any(job_id.startswith("periodic-sessions-purge-hourly-") for job_id in first)
    assert periodic.enqueue_due(redis_url, connection) == []  # claimed: a second worker skips
    connection.close()


def test_pmsc_worker_relays_and_runs_a_job(app_env, redis_url, make_account, tmp_path):
    """The real command: an outbox row for `sessions.purge` is relayed and run by `pmsc worker`
    (forked work horse, separate relay process), then the worker stops on SIGTERM."""
    from sqlalchemy import select

    from service.access.models import UserSession
    from service.access.service import start_session
    from workers import outbox

    env = {**app_env, "PMSC_REDIS_URL": redis_url}
    app = build_app(env)
    try:
        user = make_account()
        with app.app_context():
            session = db.new_session()
            ended, _ = start_session(session, user=user, id_token=None, lifetime=timedelta(hours=1))
            ended.expires_at = ended.created_at - timedelta(seconds=1)
            outbox.record(session, job="sessions.purge")
            session.commit()
            session.close()
        worker = start_worker(env, tmp_path)
        try:
            deadline = time.monotonic() + 20
            left = None
            while time.monotonic() < deadline:
                with app.app_context():
                    session = db.new_session()
                    left = session.scalar(select(UserSession.id).where(UserSession.id == ended.id))
                    session.close()
                if left is None:
                    break
                time.sleep(0.2)
            assert left is None, "the worker did not purge the ended session in time"
            assert outbox_rows(app, job="sessions.purge")[0].dispatched_at is not None
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=20)
        assert worker.returncode == 0, output
    finally:
        dispose(app)


def test_without_redis_the_job_commands_say_jobs_run_in_process(jobs_app):
    from click.testing import CliRunner

    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: jobs_app)
    failed = runner.invoke(cli, ["jobs", "failed"], obj=info)
    assert failed.exit_code == 0 and "jobs run in-process" in failed.output
    worker = runner.invoke(cli, ["worker"], obj=info)
    assert worker.exit_code != 0 and "PMSC_REDIS_URL is not set" in worker.output
