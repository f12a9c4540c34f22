"""The relay: pending outbox rows become jobs, after the transaction that recorded them commits.

With Redis (`PMSC_REDIS_URL`), `relay_once` enqueues them on rq (the worker runs it every
second). Without it, `run_pending_in_process` runs them right after the commit that recorded
them, through the same `run_job` wrapper. Either way, rows pending with the same coalesce key
become one job, and a row is marked dispatched only once its job is enqueued (or has run):
a Redis outage or a crash delays work, it never loses it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tenants.orm import utcnow
from workers import jobs
from workers.models import OutboxMessage
from workers.outbox import RECORDED_KEY

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# in-process mode: a failing job is tried this many times (once per later commit that records
# work, or by `pmsc jobs retry`), then waits in the outbox for an operator
IN_PROCESS_ATTEMPTS = 4
COALESCE_TTL = 24 * 3600  # seconds a coalesce key remembers its queued job


@dataclass
class Report:
    dispatched: int = 0  # outbox rows marked dispatched
    jobs: int = 0  # jobs enqueued (or run, in-process)
    coalesced: int = 0  # rows folded into a job already queued or enqueued
    failed: int = 0  # rows left pending after an error
    errors: list[str] = field(default_factory=list)


def _session(app: Flask) -> Session:
    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context

    with app.app_context():
        session = db.new_session()
    bind_context(session, Context.system())  # the outbox is the system's table
    return session


def _pending(session: Session, *, limit: int, max_attempts: int | None) -> list[OutboxMessage]:
    """Pending rows, oldest first, locked so a second relay skips them (PostgreSQL); SQLite
    ignores the lock and serializes writers itself."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.dispatched_at.is_(None))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if max_attempts is not None:
        query = query.where(OutboxMessage.attempts < max_attempts)
    rows = list(session.scalars(query))
    if session.get_bind().dialect.name == "sqlite":
        # end the read: on SQLite a reading transaction cannot write once another has committed
        session.commit()
    return rows


def _groups(rows: list[OutboxMessage]) -> Iterator[list[OutboxMessage]]:
    """Rows by coalesce key (a row without one is its own group), in order of first row."""
    groups: dict[tuple, list[OutboxMessage]] = {}
    for row in rows:
        key = (row.job, row.coalesce_key) if row.coalesce_key else ("row", row.id)
        groups.setdefault(key, []).append(row)
    yield from groups.values()


def _error_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"[:1000]


def _failed(rows: list[OutboxMessage], error: BaseException, report: Report) -> None:
    for row in rows:
        row.attempts = (row.attempts or 0) + 1
        row.last_error = _error_line(error)
    report.failed += len(rows)
    report.errors.append(_error_line(error))


def _dispatched(rows: list[OutboxMessage], report: Report) -> None:
    now = utcnow()
    for row in rows:
        row.dispatched_at = now
    report.dispatched += len(rows)


# through Redis


def relay_once(app: Flask, redis_url: str, *, batch: int = BATCH_SIZE) -> Report:
    """Enqueue every pending outbox row on rq, batch by batch; stop at the first Redis error
    (the rows stay pending, with the error and one more attempt)."""
    import redis

    from workers.connection import redis_connection
    from workers.queues import queues

    report = Report()
    connection = redis_connection(redis_url)
    try:
        by_name = queues(redis_url, connection)
        while True:
            session = _session(app)
            try:
                rows = _pending(session, limit=batch, max_attempts=None)
                broken = False
                for group in _groups(rows):
                    try:
                        _enqueue(connection, by_name, group, report)
                    except redis.RedisError as error:
                        _failed(group, error, report)
                        broken = True
                        break
                    _dispatched(group, report)
                session.commit()
            finally:
                session.close()
            if broken or len(rows) < batch:
                return report
    finally:
        connection.close()


def _enqueue(connection, by_name: dict, group: list[OutboxMessage], report: Report) -> None:
    """One job for the group. A coalesce key whose job is still queued gets no second one:
    the queued job has not read anything yet, so it will see these rows' writes."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    first, last = group[0], group[-1]
    pointer = None
    if first.coalesce_key:
        digest = hashlib.sha256(f"{first.job}\0{first.coalesce_key}".encode()).hexdigest()[:32]
        pointer = f"pmsc:coalesce:{digest}"
        queued_id = connection.get(pointer)
        if queued_id:
            try:
                queued = Job.fetch(queued_id.decode(), connection=connection)
                if queued.get_status(refresh=True) == JobStatus.QUEUED:
                    report.coalesced += len(group)
                    return
            except NoSuchJobError:
                pass
    spec = jobs.get(first.job) if jobs.is_registered(first.job) else None
    # the job id comes from the outbox row: a relay that crashed before marking the row
    # enqueues the same job again instead of a second one
    job_id = f"outbox-{first.id.hex}"
    by_name.get(first.queue, by_name["default"]).enqueue(
        "workers.jobs.run_job",
        first.job,
        str(first.tenant_id) if first.tenant_id else None,
        dict(last.payload or {}),
        job_id=job_id,
        retry=spec.retry() if spec else None,
        job_timeout=spec.timeout if spec else None,
        description=f"{first.job} tenant={first.tenant_id or '-'}",
        meta={"job": first.job, "tenant_id": str(first.tenant_id or ""), "rows": len(group)},
    )
    if pointer:
        connection.set(pointer, job_id, ex=COALESCE_TTL)
    report.jobs += 1
    report.coalesced += len(group) - 1


# in-process

_local = threading.local()


def run_pending_in_process(
    app: Flask, *, max_attempts: int | None = IN_PROCESS_ATTEMPTS, batch: int = BATCH_SIZE
) -> Report:
    """Run the pending outbox rows' jobs here and now, one job per coalesce key. A failing job
    is logged; its rows stay pending with the error and one more attempt."""
    report = Report()
    if getattr(_local, "running", False):
        return report  # a job's own commit: the loop below picks its rows up
    _local.running = True
    try:
        for _ in range(100):  # jobs may record more work; never loop forever
            session = _session(app)
            try:
                rows = _pending(session, limit=batch, max_attempts=max_attempts)
                if not rows:
                    return report
                for group in _groups(rows):
                    first, last = group[0], group[-1]
                    try:
                        with app.app_context():
                            jobs.run_job(first.job, first.tenant_id, dict(last.payload or {}))
                    except Exception as error:
                        log.exception("job %s (tenant %s) failed", first.job, first.tenant_id)
                        _failed(group, error, report)
                        continue
                    report.jobs += 1
                    report.coalesced += len(group) - 1
                    _dispatched(group, report)
                session.commit()
            finally:
                session.close()
            if len(rows) < batch:
                return report
        return report
    finally:
        _local.running = False


def pending_count(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dispatched_at.is_(None))
    )


# the hook: without Redis, work recorded in a transaction runs once it commits


def init_app(app: Flask) -> None:
    """Run recorded jobs in-process after each commit when the app has no Redis."""
    from tenants.isolation import TenantSession

    if not event.contains(TenantSession, "after_commit", _after_commit):
        event.listen(TenantSession, "after_commit", _after_commit)
        event.listen(TenantSession, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop(RECORDED_KEY, None)  # the rows went with the transaction


def _after_commit(session: Session) -> None:
    if not session.info.pop(RECORDED_KEY, False) or not has_app_context():
        return
    app = current_app._get_current_object()
    if app.config["PMSC_SETTINGS"].redis_url:
        return  # the worker's relay moves them
    try:
        run_pending_in_process(app)
    except Exception:  # the write has committed: its response must not become an error
        log.exception("running pending jobs in-process failed; they stay in the outbox")
