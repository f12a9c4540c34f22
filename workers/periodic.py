"""Periodic jobs, declared as data with stable ids; the worker's relay loop enqueues them.

Each run has a due time; the first worker to claim it in Redis (SET NX) enqueues it, so several
workers never run it twice, and a worker started after a due time (within a day) catches up.
A declared job nobody has registered yet is skipped (and named once in the worker's log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workers import jobs
from workers.queues import queues

log = logging.getLogger(__name__)

ZONE_TIME = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Periodic:
    """`job` every `every`, or daily at `daily_at` zone time. `id` never changes."""

    id: str
    job: str
    every: timedelta | None = None
    daily_at: time | None = None

    def last_due(self, now: datetime) -> datetime:
        """The latest due time at or before `now` (UTC)."""
        if self.every is not None:
            step = int(self.every.total_seconds())
            return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        local = now.astimezone(ZONE_TIME)
        due = datetime.combine(local.date(), self.daily_at, ZONE_TIME)
        if due > local:
            due -= timedelta(days=1)
        return due.astimezone(UTC)

    @property
    def period(self) -> timedelta:
        return self.every or timedelta(days=1)


PERIODIC: tuple[Periodic, ...] = (
    # the full recompute of the zone's rollups, nightly at 02:00 zone time
    Periodic("rollups-nightly", job="rollups.recompute_zone", daily_at=time(2, 0)),
    # browser sessions past their end or idle too long
    Periodic("sessions-purge-hourly", job="sessions.purge", every=timedelta(hours=1)),
)


def enqueue_due(redis_url: str, connection, *, now: datetime | None = None) -> list[str]:
    """Enqueue the periodic jobs due and not yet claimed; the rq job ids enqueued."""
    now = now or datetime.now(UTC)
    by_name = queues(redis_url, connection)
    enqueued = []
    for entry in PERIODIC:
        if not jobs.is_registered(entry.job):
            continue
        spec = jobs.get(entry.job)
        due = entry.last_due(now)
        stamp = int(due.timestamp())
        claim = f"pmsc:periodic:{entry.id}:{stamp}"
        ttl = int(entry.period.total_seconds() * 2) + 60
        if not connection.set(claim, "1", nx=True, ex=ttl):
            continue
        job_id = f"periodic-{entry.id}-{stamp}"
        by_name[spec.queue].enqueue(
            "workers.jobs.run_job",
            entry.job,
            None,
            {},
            job_id=job_id,
            retry=spec.retry(),
            job_timeout=spec.timeout,
            description=f"{entry.job} (periodic {entry.id}, due {due.isoformat()})",
            meta={"job": entry.job, "tenant_id": "", "periodic": entry.id},
        )
        log.info("enqueued periodic job %s (%s)", entry.id, job_id)
        enqueued.append(job_id)
    return enqueued


def unregistered() -> list[Periodic]:
    """Declared periodic jobs whose job is not registered (yet)."""
    return [entry for entry in PERIODIC if not jobs.is_registered(entry.job)]
