"""The registry of jobs, and the one wrapper every job runs through.

A job is a plain function `f(session, *, tenant_id, **payload)`: it takes ids, never ORM objects,
and never commits. `run_job` (what rq executes, and what the in-process mode calls) builds the
app once per process, opens its app context and a session bound to the job's context, names the
job as the audit actor, commits on success and rolls back on error, then re-raises so rq retries.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flask import Flask, current_app, has_app_context

from workers.queues import QUEUE_NAMES

log = logging.getLogger(__name__)

# modules whose import registers the product's jobs: a domain adds its `jobs` module here
JOB_MODULES: list[str] = ["workers.housekeeping", "service.rollups.jobs"]
# rq retries a failing job after these delays (seconds); then it lands in the failed registry
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (5, 30, 120)

Scope = Literal["tenant", "zone", "system"]


@dataclass(frozen=True)
class JobSpec:
    """A registered job: its function, its queue, the context it runs in without a tenant,
    its retry delays and its time limit."""

    name: str
    func: Callable[..., Any]
    queue: str
    scope: Scope
    retry_intervals: tuple[int, ...]
    timeout: int | None

    def context(self, tenant_id: uuid.UUID | None):
        from tenants.context import Context

        if tenant_id is not None:
            if self.scope != "tenant":
                raise ValueError(
                    f"job {self.name} runs in the {self.scope} context, not a tenant's"
                )
            return Context.tenant(tenant_id)
        if self.scope == "tenant":
            raise ValueError(f"job {self.name} needs a tenant id")
        return Context.zone() if self.scope == "zone" else Context.system()

    def retry(self):
        """The rq retry policy, or None for a job that is never retried."""
        from rq import Retry

        if not self.retry_intervals:
            return None
        return Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals))


_registry: dict[str, JobSpec] = {}


def job(
    name: str,
    *,
    queue: str = "default",
    scope: Scope = "tenant",
    retry: tuple[int, ...] = DEFAULT_RETRY_INTERVALS,
    timeout: int | None = None,
):
    """Register the decorated function as the job `name` (tests may register their own)."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"job {name}: unknown queue {queue!r}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        existing = _registry.get(name)
        if existing is not None and existing.func is not func:
            raise ValueError(f"a job named {name!r} is already registered")
        _registry[name] = JobSpec(name, func, queue, scope, tuple(retry), timeout)
        return func

    return register


def unregister(name: str) -> None:
    """Forget a job (for tests that register their own)."""
    _registry.pop(name, None)


def load_jobs() -> dict[str, JobSpec]:
    """Import the modules that register the product's jobs; the registry by name."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_registry)


def get(name: str) -> JobSpec:
    """The job registered as `name`."""
    if name not in _registry:
        load_jobs()
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no job registered as {name!r}") from None


def is_registered(name: str) -> bool:
    if name not in _registry:
        load_jobs()
    return name in _registry


# the app jobs run in: the one a worker was started with, else built from the environment

_app: Flask | None = None
_app_pid: int | None = None
_app_lock = threading.Lock()


def use_app(app: Flask) -> None:
    """Run this process's jobs in `app` (the worker's, or a test's)."""
    global _app, _app_pid
    with _app_lock:
        _app, _app_pid = app, os.getpid()


def _job_app() -> Flask:
    global _app, _app_pid
    if has_app_context():
        return current_app._get_current_object()
    with _app_lock:
        if _app is None:
            from service import create_app

            _app, _app_pid = create_app(), os.getpid()
        elif _app_pid != os.getpid():
            # a forked work horse: the parent's pooled connections are not ours to use
            _app.extensions["pmsc.database"].engine.dispose(close=False)
            _app_pid = os.getpid()
        return _app


def run_job(name: str, tenant_id: str | uuid.UUID | None = None, payload: dict | None = None):
    """Run the job `name` for `tenant_id` in its own transaction (what rq executes)."""
    from service.audit.recorder import set_actor
    from service.database import db
    from tenants.isolation import bind_context

    spec = get(name)
    if isinstance(tenant_id, str):
        tenant_id = uuid.UUID(tenant_id)
    context = spec.context(tenant_id)
    with _job_app().app_context():
        session = db.new_session()
        try:
            bind_context(session, context)
            set_actor(session, {"iss": None, "sub": f"job:{name}", "name": None})
            result = spec.func(session, tenant_id=tenant_id, **(payload or {}))
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
