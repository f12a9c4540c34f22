"""Faults, with the real parts: a `pmsc worker` killed with SIGKILL in the middle of a rollup job
leaves the previous figures intact and rq's retry of the job writes what a full recompute
writes; a Redis server stopped while branches keep writing loses no rollup once it is back."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.database import db
from service.rollups.compute import FIGURES, compute_branch, periods_for
from tenants.context import Context
from tenants.isolation import bind_context
from tests.api.helpers import worker as worker_body
from tests.rollups.helpers import figures, recompute, rows
from tests.workers.conftest import build_app, caller, dispose, outbox_rows, start_worker, work
from workers.connection import redis_connection
from workers.queues import queues


def _until(check: Callable[[], object], *, seconds: float, what: str) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"waited {seconds} s for {what}")


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (rq's work horse calls setsid(): it leaves the
    worker's process group, so killing the group would spare it)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and every process it started, as a crashed machine would."""
    for pid in [process.pid, *_descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=10)


def _stop_worker(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


def _meeting(client, slug: str, member_ids: list[str], statuses: list[str]) -> None:
    """A held meeting two days ago with the given attendance, through the API."""
    starts = datetime.now(UTC) - timedelta(days=2)
    made = client.post(
        f"/api/v1/t/{slug}/activities",
        json={
            "kind": "general-meeting",
            "title": "党员大会",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "status": "held",
            "study_hours": 2,
        },
    )
    assert made.status_code == 201, made.json
    batch = [{"member_id": m, "status": s} for m, s in zip(member_ids, statuses, strict=True)]
    put = client.put(f"/api/v1/t/{slug}/activities/{made.json['id']}/attendance", json=batch)
    assert put.status_code == 200, put.json


def _roster(client, slug: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        made = client.post(f"/api/v1/t/{slug}/members", json=worker_body(f"成员{n}"))
        assert made.status_code == 201, made.json
        ids.append(made.json["id"])
    return ids


def _worker_idle(app, redis_url: str) -> bool:
    """Every outbox row handed to Redis and no rq job queued, scheduled or running."""
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    if any(r.dispatched_at is None for r in outbox_rows(app)):
        return False
    for queue in queues(redis_url).values():
        # a dequeued job sits in rq's intermediate queue until it is marked started
        if queue.count or queue.intermediate_queue.get_job_ids():
            return False
        if StartedJobRegistry(queue=queue).count or ScheduledJobRegistry(queue=queue).count:
            return False
    return True


def _expected(app, tenant_id) -> dict[str, dict]:
    """What a full recompute would write for the branch now, computed without writing."""
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant_id))
        computed = compute_branch(session, tenant_id=tenant_id, periods=periods_for())
        session.close()
    return {c["period"]: {f: c[f] for f in FIGURES} for c in computed}


# a worker killed mid-job


def _activity(engine, query: str):
    """A fresh read of pg_stat_activity (a transaction sees one snapshot of it)."""
    with engine.connect() as connection:
        return connection.execute(text(query)).scalar()


@contextmanager
def _rollup_write_held(owner_engine, tenant_id, period: str) -> Iterator:
    """Hold one of the branch's rollup rows (as the owner, in an open transaction): a rollup
    job's DELETE of the branch's rows waits on it, mid-write, until the lock is let go."""
    with owner_engine.connect() as lock:
        lock.execute(
            text("SELECT 1 FROM branch_rollups WHERE tenant_id = :t AND period = :p FOR UPDATE"),
            {"t": tenant_id, "p": period},
        )
        yield lock


def _blocked_rollup_write(owner_engine) -> int:
    """The backend pid of the rollup job's DELETE once it waits on the held row."""
    return _until(
        lambda: _activity(
            owner_engine,
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'DELETE FROM branch_rollups%'",
        ),
        seconds=30,
        what="the rollup job to reach its write",
    )


@pytest.fixture
def owner_engine(app_env) -> Iterator:
    if "PMSC_ADMIN_DATABASE_URL" not in app_env:
        pytest.skip("row locks hold the job mid-write on PostgreSQL, the production database")
    engine = create_engine(app_env["PMSC_ADMIN_DATABASE_URL"])
    yield engine
    engine.dispose()


def test_a_worker_killed_mid_rollup_keeps_the_old_figures_and_the_retry_recomputes(
    app_env, redis_url, owner_engine, issuer, make_branch, tmp_path
):
    from rq.job import Job, JobStatus
    from rq.registry import StartedJobRegistry

    env = {**app_env, "PMSC_REDIS_URL": redis_url}
    app = build_app(env)
    process = None
    try:
        branch = make_branch()
        client = caller(app, issuer, branch)
        people = _roster(client, branch.slug, 4)
        _meeting(client, branch.slug, people, ["present"] * 4)
        recompute(app, branch.id)
        before = rows(app, branch.id)
        assert before[str(datetime.now(UTC).year)]["attendance_present"] == 4

        _meeting(client, branch.slug, people, ["absent", "absent", "late", "late"])
        year = str(datetime.now(UTC).year)
        with _rollup_write_held(owner_engine, branch.id, year) as lock:
            process = start_worker(env, tmp_path)
            waiting = _blocked_rollup_write(owner_engine)
            started = StartedJobRegistry(queue=queues(redis_url)["rollups"])
            connection = redis_connection(redis_url)
            [job] = [
                j
                for j in (Job.fetch(i, connection=connection) for i in started.get_job_ids())
                if j.meta.get("tenant_id") == str(branch.id)
            ]
            _kill(process)
            process = None
            lock.rollback()  # let the orphaned statement finish: its transaction cannot commit
            _until(
                lambda: (
                    not _activity(
                        owner_engine, f"SELECT 1 FROM pg_stat_activity WHERE pid = {int(waiting)}"
                    )
                ),
                seconds=30,
                what="PostgreSQL to end the killed worker's backend",
            )

        assert rows(app, branch.id) == before  # the old figures, computed_at included
        assert job.get_status(refresh=True) == JobStatus.STARTED  # abandoned, as rq sees it

        # rq's own recovery of abandoned jobs, with its clock past the dead worker's heartbeat
        # (a running `pmsc worker` does this within MAINTENANCE_INTERVAL of the heartbeat lapsing)
        started.cleanup(timestamp=time.time() + 3600)
        assert job.get_status(refresh=True) in (JobStatus.SCHEDULED, JobStatus.QUEUED)
        # likewise the dead worker's scheduler locks, which lapse 61 s after their last refresh
        locks = connection.keys("rq:scheduler-lock:*")
        assert locks and connection.delete(*locks) == len(locks)

        def retried() -> bool:
            work(redis_url)
            return job.get_status(refresh=True) == JobStatus.FINISHED

        _until(retried, seconds=30, what="the retry of the rollup job")
        after = figures(app, branch.id)
        assert after[year]["attendance_present"] == 4 + 2  # both meetings, the second's two late
        assert after == _expected(app, branch.id)
        assert rows(app, branch.id)[year]["computed_at"] > before[year]["computed_at"]
    finally:
        if process is not None:
            _kill(process)
        dispose(app)


# Redis stopped and started again


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, on a free port, that can be stopped and started."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                return redis_connection(self.url).ping()
            except Exception:
                return False

        _until(answers, seconds=10, what="redis-server to answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(redis_url, tmp_path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_with_redis_stopped_writes_succeed_and_every_rollup_happens_once_it_is_back(
    app_env, redis_server, issuer, make_branch, tmp_path
):
    env = {**app_env, "PMSC_REDIS_URL": redis_server.url}
    app = build_app(env)
    process = start_worker(env, tmp_path)
    try:
        branches = [make_branch() for _ in range(3)]
        clients = {b.id: caller(app, issuer, b) for b in branches}
        people = {b.id: _roster(clients[b.id], b.slug, 3) for b in branches}
        first = branches[0]
        _meeting(clients[first.id], first.slug, people[first.id], ["present"] * 3)
        # every job the rosters and the first meeting queued must be done before Redis stops: a
        # job the worker already holds would run after the writes below and roll them up
        for _ in range(2):  # twice: a job just popped is not yet in the started registry
            _until(
                lambda: (
                    figures(app, first.id) == _expected(app, first.id)
                    and _worker_idle(app, redis_server.url)
                ),
                seconds=30,
                what="the worker to roll up the first writes and go idle",
            )
            time.sleep(0.5)

        redis_server.stop()
        for index, branch in enumerate(branches):
            for _ in range(index + 1):
                _meeting(clients[branch.id], branch.slug, people[branch.id], ["late"] * 3)
        pending = _until(
            lambda: [r for r in outbox_rows(app) if r.dispatched_at is None and r.attempts],
            seconds=15,
            what="the relay to try and fail",
        )
        assert all("Error" in r.last_error for r in pending)
        for branch in branches:
            assert figures(app, branch.id) != _expected(app, branch.id)  # not rolled up yet

        redis_server.start()
        _until(
            lambda: (
                all(r.dispatched_at for r in outbox_rows(app))
                and all(figures(app, b.id) == _expected(app, b.id) for b in branches)
            ),
            seconds=60,
            what="every pending rollup after Redis came back",
        )
        year = str(datetime.now(UTC).year)
        assert [figures(app, b.id)[year]["activities_held"] for b in branches] == [2, 2, 3]
    finally:
        _stop_worker(process)
        dispose(app)


def test_a_worker_that_loses_redis_while_it_watches_a_job_keeps_working_once_it_is_back(
    app_env, redis_server, owner_engine, issuer, make_branch, tmp_path
):
    """rq gives up (logs and returns) when Redis drops while it watches a running job; the
    `pmsc worker` command must not end with it: it waits and starts a new rq worker."""
    env = {**app_env, "PMSC_REDIS_URL": redis_server.url}
    app = build_app(env)
    process = None
    try:
        branch = make_branch()
        client = caller(app, issuer, branch)
        people = _roster(client, branch.slug, 2)
        _meeting(client, branch.slug, people, ["present"] * 2)
        recompute(app, branch.id)
        year = str(datetime.now(UTC).year)
        _meeting(client, branch.slug, people, ["late"] * 2)
        with _rollup_write_held(owner_engine, branch.id, year) as lock:
            process = start_worker(env, tmp_path)
            _blocked_rollup_write(owner_engine)  # rq is watching the job when Redis goes
            redis_server.stop()
            lock.rollback()
        time.sleep(3)  # rq notices the loss while the job ends, and gives up
        assert process.poll() is None, "pmsc worker ended with its rq worker"
        redis_server.start()
        _meeting(client, branch.slug, people, ["absent"] * 2)  # new work, after the outage
        _until(
            lambda: figures(app, branch.id) == _expected(app, branch.id),
            seconds=60,
            what="the new rq worker to roll up the write made after Redis came back",
        )
        assert figures(app, branch.id)[year]["activities_held"] == 3
        output = _stop_worker(process)
        process = None
        assert "starting a new rq worker" in output  # the same command, a new rq worker
    finally:
        if process is not None:
            _kill(process)
        dispose(app)
