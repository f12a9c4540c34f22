"""Without Redis (the embedded default), recorded jobs run right after the commit, through the
same wrapper a worker uses; a rolled-back write's job never runs; failures stay in the outbox."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from service.database import db
from tests.conftest import VALID_MEMBER, branch_admin_of
from tests.workers.conftest import CALLS, caller, outbox_rows
from workers import jobs, outbox, relay


def test_a_committed_write_runs_its_job_and_a_rolled_back_one_never(
    jobs_app, issuer, make_branch, recording_job
):
    branch = make_branch()
    client = caller(jobs_app, issuer, branch)
    url = f"/api/v1/t/{branch.slug}/test-outbox"

    refused = client.post(url, json={"job": recording_job, "fail": True, "payload": {"n": 1}})
    assert refused.status_code == 422
    assert CALLS == []
    assert outbox_rows(jobs_app, job=recording_job) == []

    done = client.post(url, json={"job": recording_job, "payload": {"n": 2}})
    assert done.status_code == 201, done.get_json()
    assert [("note", branch.id, {"n": 2})] == CALLS
    [row] = outbox_rows(jobs_app, job=recording_job)
    assert row.dispatched_at is not None and row.tenant_id == branch.id


def test_fifty_rows_with_one_coalesce_key_run_once(jobs_app, issuer, make_branch, recording_job):
    branch = make_branch()
    done = caller(jobs_app, issuer, branch).post(
        f"/api/v1/t/{branch.slug}/test-outbox",
        json={"job": recording_job, "count": 50, "key": f"branch:{branch.id}"},
    )
    assert done.status_code == 201
    assert len(CALLS) == 1
    rows = outbox_rows(jobs_app, job=recording_job)
    assert len(rows) == 50 and all(r.dispatched_at is not None for r in rows)


def test_a_job_runs_in_its_tenant_context_and_rolls_back_on_error(
    jobs_app, make_branch, register, as_groups
):
    from service.members.models import Member

    a, b = make_branch(), make_branch()
    created = branch_admin_of(as_groups, a).post(f"/api/v1/t/{a.slug}/members", json=VALID_MEMBER)
    assert created.status_code == 201, created.get_json()

    seen: dict[uuid.UUID, list] = {}

    def count_members(session, *, tenant_id, other=None):
        seen[tenant_id] = list(session.scalars(select(Member.tenant_id)))
        seen["other"] = session.get(Member, (uuid.UUID(other), uuid.uuid4())) if other else None
        seen["actor"] = session.info["pmsc.actor"]["sub"]

    name = register(f"test.members.{uuid.uuid4().hex[:8]}", count_members)
    jobs.run_job(name, b.id, {})
    assert seen[b.id] == []  # a's member is not visible from b's context
    assert seen["actor"] == f"job:{name}"
    jobs.run_job(name, str(a.id), {})
    assert seen[a.id] == [a.id]

    def write_then_fail(session, *, tenant_id):
        outbox.record(session, job="never", tenant_id=tenant_id)
        session.flush()
        raise RuntimeError("boom")

    failing = register(f"test.fail.{uuid.uuid4().hex[:8]}", write_then_fail)
    try:
        jobs.run_job(failing, a.id)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the job's error must reach the caller (rq retries on it)")
    assert outbox_rows(jobs_app, job="never") == []  # its write was rolled back


def test_a_failing_job_keeps_its_row_pending_and_never_fails_the_write(
    jobs_app, issuer, make_branch, register
):
    state = {"broken": True}

    def flaky(session, *, tenant_id):
        if state["broken"]:
            raise ValueError("first line\nthe reason")

    name = register(f"test.flaky.{uuid.uuid4().hex[:8]}", flaky)
    branch = make_branch()
    done = caller(jobs_app, issuer, branch).post(
        f"/api/v1/t/{branch.slug}/test-outbox", json={"job": name}
    )
    assert done.status_code == 201
    [row] = outbox_rows(jobs_app, job=name)
    assert row.dispatched_at is None and row.attempts == 1
    assert row.last_error == "ValueError: the reason"

    state["broken"] = False
    report = relay.run_pending_in_process(jobs_app)
    assert report.jobs == 1
    [row] = outbox_rows(jobs_app, job=name)
    assert row.dispatched_at is not None


def test_purge_sessions_removes_ended_sessions(jobs_app, make_account):
    from datetime import timedelta

    from service.access.models import UserSession
    from service.access.service import start_session

    user = make_account()
    with jobs_app.app_context():
        session = db.new_session()
        ended, _ = start_session(session, user=user, id_token=None, lifetime=timedelta(hours=1))
        ended.expires_at = ended.created_at - timedelta(seconds=1)
        live, _ = start_session(session, user=user, id_token=None, lifetime=timedelta(hours=1))
        session.commit()
        ended_id, live_id = ended.id, live.id
        session.close()

    assert jobs.run_job("sessions.purge") >= 1

    with jobs_app.app_context():
        session = db.new_session()
        left = set(session.scalars(select(UserSession.id).where(UserSession.user_id == user.id)))
        session.close()
    assert left == {live_id} and ended_id not in left
