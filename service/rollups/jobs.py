"""The rollup jobs: one branch after its writes (coalesced per branch by the outbox), and the
whole zone (nightly, after a change of the zone's schedule or targets, and by
`pmsc rollups recompute`)."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.rollups.compute import recompute_branch
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
    """Recompute every active or archived branch (or those of `slugs`), each in its tenant
    context and its own savepoint, in one transaction: one branch failing rolls back its own
    rows only, and a zone of thousands of branches pays one commit, not one per branch. Needs
    an app context."""
    from service.audit.recorder import set_actor
    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context
    from tenants.registry import Tenant, TenantStatus

    started = time.monotonic()
    report = ZoneReport()
    reader = db.new_session()
    try:
        bind_context(reader, Context.system())
        query = select(Tenant.id, Tenant.slug).order_by(Tenant.slug)
        if slugs is None:
            query = query.where(Tenant.status.in_([TenantStatus.ACTIVE, TenantStatus.ARCHIVED]))
        else:
            query = query.where(Tenant.slug.in_(slugs))
        tenants = list(reader.execute(query))
    finally:
        reader.close()
    zone: dict = {}  # the schedule and targets, read once for every branch
    session = db.new_session()
    try:
        set_actor(session, {"iss": None, "sub": "job:rollups.recompute_zone", "name": None})
        for tenant_id, slug in tenants:
            bind_context(session, Context.tenant(tenant_id))
            savepoint = session.begin_nested()
            try:
                report.rows += len(recompute_branch(session, tenant_id=tenant_id, zone=zone))
                savepoint.commit()
                report.branches += 1
            except Exception as error:
                savepoint.rollback()
                log.exception("rollup of branch %s failed", slug)
                report.failed[slug] = f"{type(error).__name__}: {error}"[:500]
            session.expunge_all()  # the rows are written: keep the identity map small
        session.commit()
    finally:
        session.close()
    report.seconds = time.monotonic() - started
    return report


@job("rollups.recompute_zone", queue="rollups", scope="zone")
def recompute_zone_job(session: Session, *, tenant_id: None = None) -> int:
    """Recompute every branch, each in its own transaction (the zone context reads, never
    writes); raises after the others are done if any failed, so the job is retried."""
    report = recompute_tenants()
    if report.failed:
        raise RecomputeFailed(f"{len(report.failed)} branch rollup(s) failed: {report.failed}")
    return report.branches
