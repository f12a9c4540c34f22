"""`pmsc worker`: an rq worker on every queue, with rq's scheduler (retries with a delay), and
beside it the relay loop that moves outbox rows to Redis and enqueues periodic jobs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time

from flask import Flask

from workers import jobs, periodic, relay
from workers.connection import redis_connection, redis_ping
from workers.outbox_listener import OutboxListener
from workers.queues import QUEUE_NAMES, queues

log = logging.getLogger(__name__)

RELAY_INTERVAL = 1.0  # seconds between two relay passes, unless a commit's notification wakes it
# how often rq looks for jobs whose worker died (rq's default is 10 minutes): a job abandoned by
# a killed worker is retried once its heartbeat has lapsed (about 90 s) and this pass has run
MAINTENANCE_INTERVAL = 60


def relay_loop(app: Flask, redis_url: str, *, interval: float = RELAY_INTERVAL) -> None:
    """Relay outbox rows and enqueue due periodic jobs until the parent process goes away."""
    parent = os.getppid()
    # a forked child: the parent's pooled database connections are not ours to use
    app.extensions["pmsc.database"].engine.dispose(close=False)
    connection = redis_connection(redis_url)
    listener = OutboxListener(app.config["PMSC_SETTINGS"].database_url)
    while os.getppid() == parent:
        try:
            report = relay.relay_once(app, redis_url)
            if report.jobs or report.failed:
                log.info(
                    "relay: %d job(s) enqueued for %d outbox row(s), %d left pending%s",
                    report.jobs,
                    report.dispatched,
                    report.failed,
                    f" ({report.errors[-1]})" if report.errors else "",
                )
            periodic.enqueue_due(redis_url, connection)
        except Exception:
            log.exception("relay pass failed; retrying")
            time.sleep(interval)  # not at full speed into a failure that notifications repeat
        listener.wait(interval)


def run_worker(app: Flask, redis_url: str, *, burst: bool = False) -> bool:
    """Work the queues (in priority order) with rq's scheduler, relaying the outbox beside.
    Losing Redis does not end the command: it waits for Redis and starts a new rq worker."""
    import redis

    worker_class = _worker_class()

    jobs.use_app(app)
    jobs.load_jobs()
    for entry in periodic.unregistered():
        log.info("periodic job %s skipped: no job %r is registered", entry.id, entry.job)
    connection = redis_connection(redis_url)
    by_name = queues(redis_url, connection)
    relayer = None
    if burst:
        relay.relay_once(app, redis_url)
    else:
        relayer = multiprocessing.get_context("fork").Process(
            target=relay_loop, args=(app, redis_url), name="pmsc-relay", daemon=True
        )
        relayer.start()
    try:
        while True:
            worker = worker_class(
                [by_name[name] for name in QUEUE_NAMES],
                connection=connection,
                maintenance_interval=MAINTENANCE_INTERVAL,
            )
            try:
                worked = worker.work(with_scheduler=True, burst=burst)
                if burst or worker.stop_asked:
                    return worked
                # rq logs and returns when Redis drops while it watches a job
                log.warning("the rq worker stopped without being asked to; restarting it")
                time.sleep(1)  # not in a tight loop, whatever stopped it
            except (redis.ConnectionError, redis.TimeoutError) as error:
                # rq survives an outage while it waits for jobs, not one while it registers
                # itself; the outbox keeps the work meanwhile
                if burst:
                    raise
                log.warning("lost Redis (%s); waiting for it to come back", error)
            if not _wait_for_redis(redis_url):
                return True
            log.info("Redis answers; starting a new rq worker")
    finally:
        if relayer is not None:
            relayer.terminate()
            relayer.join(5)


def _worker_class():
    from rq import Worker

    class StoppableWorker(Worker):
        """rq's worker, remembering whether a signal asked it to stop: its `work` returns the
        same way after a warm shutdown and after giving up on a lost Redis."""

        stop_asked = False

        def request_stop(self, signum, frame):
            self.stop_asked = True
            return super().request_stop(signum, frame)

    return StoppableWorker


def _wait_for_redis(redis_url: str, *, longest: float = 5.0) -> bool:
    """Ping Redis with a growing pause until it answers (True) or SIGTERM/SIGINT asks the
    command to stop (False): rq's own handlers are gone with the rq worker that gave up."""
    stopping = []
    previous = {
        number: signal.signal(number, lambda *_: stopping.append(True))
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        pause = 0.5
        while not stopping:
            if redis_ping(redis_url):
                return True
            waited_until = time.monotonic() + pause
            while not stopping and time.monotonic() < waited_until:
                time.sleep(0.1)  # short naps: a stop request is heard at once
            pause = min(pause * 2, longest)
        return False
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
