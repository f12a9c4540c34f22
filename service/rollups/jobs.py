"""The rollup jobs: one branch after its writes (coalesced per branch by the outbox), and the
whole zone (nightly, after a change of the zone's schedule or targets, and by
`pmsc rollups recompute`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.rollups.compute import (
    compute_figures,
    periods_for,
    recompute_branch,
    upsert_rows,
    zone_now,
)
from tenants.orm import utcnow
from workers.jobs import job

log = logging.getLogger(__name__)


@job("rollups.recompute_branch", queue="rollups", scope="tenant")
def recompute_branch_job(session: Session, *, tenant_id: uuid.UUID) -> int:
    """Recompute one branch's rows (the wrapper gives its tenant context); rows written."""
    return len(recompute_branch(session, tenant_id=tenant_id))


@dataclass
class ZoneReport:
    branches: int = 0
    rows: int = 0
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)  # slug → error


class RecomputeFailed(RuntimeError):
    pass


def recompute_tenants(slugs: list[str] | None = None) -> ZoneReport:
    """Recompute every active or archived branch (or those of `slugs`). Needs an app context.

    Set-based: the figures of every branch are computed at once, by a few GROUP BY queries in
    the zone context (which reads every branch, never writes). Each branch's rows are then
    written in its own tenant context (one INSERT that refreshes them in place), all in one
    transaction: a zone of thousands of branches pays one commit. If a write fails, that
    transaction is rolled back and the writes are redone with a savepoint per branch, so one
    failing branch loses only its own rows (savepoints cost two round trips a branch, paid only
    then); a branch whose figures cannot be made is reported the same way."""
    from service.audit.recorder import set_actor
    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context
    from tenants.registry import Tenant, TenantStatus

    started = time.monotonic()
    report = ZoneReport()
    session = db.new_session()
    try:
        bind_context(session, Context.system())
        query = select(Tenant.id, Tenant.slug).order_by(Tenant.slug)
        if slugs is None:
            query = query.where(Tenant.status.in_([TenantStatus.ACTIVE, TenantStatus.ARCHIVED]))
        else:
            query = query.where(Tenant.slug.in_(slugs))
        slug_of: dict[uuid.UUID, str] = dict(session.execute(query).all())
        session.rollback()

        computed_at = utcnow()  # before the first read: the figures reflect records from here on
        now = zone_now()
        failed: dict[uuid.UUID, Exception] = {}
        bind_context(session, Context.zone())
        figures = compute_figures(
            session, tenant_ids=list(slug_of), periods=periods_for(now), now=now, failed=failed
        )
        session.rollback()  # the reads are done: leave the zone context's transaction

        set_actor(session, {"iss": None, "sub": "job:rollups.recompute_zone", "name": None})
        try:
            with _pipelined(session):
                report.rows = _write(session, figures, computed_at, failed=None)
        except Exception:
            session.rollback()
            log.warning(
                "a branch's rollup write failed; writing again branch by branch", exc_info=True
            )
            report.rows = _write(session, figures, computed_at, failed=failed)
        session.commit()
    finally:
        session.close()
    for tenant_id, error in failed.items():
        log.error("rollup of branch %s failed", slug_of[tenant_id], exc_info=error)
        report.failed[slug_of[tenant_id]] = f"{type(error).__name__}: {error}"[:500]
    report.branches = len(figures) - len(failed.keys() & figures.keys())
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _pipelined(session: Session) -> Iterator[None]:
    """On PostgreSQL through psycopg, send the statements without waiting for each answer (its
    pipeline mode): thousands of branches cost thousands of round trips, mostly waited for. The
    statements, their order and the isolation checks are the same; an error surfaces at the
    latest when the block ends, and the caller then redoes the writes branch by branch."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or not hasattr(driver, "pipeline"):
        yield
        return
    with driver.pipeline():
        yield


def _write(
    session: Session,
    figures: dict[uuid.UUID, list[dict]],
    computed_at: datetime,
    *,
    failed: dict[uuid.UUID, Exception] | None,
) -> int:
    """Write each branch's rows in its own tenant context; the rows written. Without `failed`,
    the first error propagates (the caller rolls back); with it, each branch gets a savepoint
    and a failing branch is recorded there while the others' rows stay."""
    from tenants.context import Context
    from tenants.isolation import bind_context

    written = 0
    for tenant_id, rows in figures.items():
        bind_context(session, Context.tenant(tenant_id))
        if failed is None:
            written += upsert_rows(
                session, tenant_id=tenant_id, figures=rows, computed_at=computed_at
            )
            continue
        savepoint = session.begin_nested()
        try:
            count = upsert_rows(session, tenant_id=tenant_id, figures=rows, computed_at=computed_at)
            savepoint.commit()
            written += count
        except Exception as error:
            savepoint.rollback()
            failed[tenant_id] = error
    return written


@job("rollups.recompute_zone", queue="rollups", scope="zone")
def recompute_zone_job(session: Session, *, tenant_id: None = None) -> int:
    """Recompute every branch (the zone context reads, each branch's context writes its rows);
    raises after the others are written if any failed, so the job is retried."""
    report = recompute_tenants()
    if report.failed:
        raise RecomputeFailed(f"{len(report.failed)} branch rollup(s) failed: {report.failed}")
    return report.branches
