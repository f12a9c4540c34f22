"""Reading the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.models import TenantAuditEvent, ZoneAuditEvent


def list_events(
    session: Session,
    *,
    model: type[TenantAuditEvent] | type[ZoneAuditEvent],
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list, int]:
    """Events matching the filters, newest first, and how many match in all.

    The session's context decides whose events a tenant model returns."""
    query = select(model)
    if object_type:
        query = query.where(model.object_type == object_type)
    if object_id:
        query = query.where(model.object_id == object_id)
    if action:
        query = query.where(model.action == action)
    if since:
        query = query.where(model.occurred_at >= since)
    if until:
        query = query.where(model.occurred_at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(model.occurred_at.desc(), model.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), total
