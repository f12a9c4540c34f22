"""`pmsc worker`: an rq worker on every queue, with rq's scheduler (retries with a delay), and
beside it the relay loop that moves outbox rows to Redis and enqueues periodic jobs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time

from flask import Flask

from workers import jobs, periodic, relay
from workers.connection import redis_connection
from workers.queues import QUEUE_NAMES, queues

log = logging.getLogger(__name__)

RELAY_INTERVAL = 1.0  # seconds between two relay passes


def relay_loop(app: Flask, redis_url: str, *, interval: float = RELAY_INTERVAL) -> None:
    """Relay outbox rows and enqueue due periodic jobs until the parent process goes away."""
    parent = os.getppid()
    # a forked child: the parent's pooled database connections are not ours to use
    app.extensions["pmsc.database"].engine.dispose(close=False)
    connection = redis_connection(redis_url)
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
        time.sleep(interval)


def run_worker(app: Flask, redis_url: str, *, burst: bool = False) -> bool:
    """Work the queues (in priority order) with rq's scheduler, relaying the outbox beside."""
    from rq import Worker

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
        worker = Worker([by_name[name] for name in QUEUE_NAMES], connection=connection)
        return worker.work(with_scheduler=True, burst=burst)
    finally:
        if relayer is not None:
            relayer.terminate()
            relayer.join(5)
