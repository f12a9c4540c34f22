"""Audit events: a tenant's in its own table (tenant-owned), the zone's in another."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.orm import (
    Base,
    JSONDocument,
    TenantOwned,
    UTCDateTime,
    tenant_table_args,
    utcnow,
    uuid7,
)


class _AuditColumns:
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_issuer: Mapped[str | None] = mapped_column(String(255))
    actor_subject: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(20))  # create | update | delete
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)  # {field: {before, after}}


class TenantAuditEvent(TenantOwned, _AuditColumns, Base):
    """A write inside one branch's space."""

    __tablename__ = "tenant_audit_events"
    __table_args__ = tenant_table_args(
        Index("ix_tenant_audit_events_tenant_time", "tenant_id", "occurred_at"),
    )


class ZoneAuditEvent(_AuditColumns, Base):
    """A write at zone level: the registry, zone settings."""

    __tablename__ = "zone_audit_events"
    __table_args__ = (Index("ix_zone_audit_events_time", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
