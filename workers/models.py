"""The outbox: work a write asks for, recorded in the write's own transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenants.orm import Base, JSONDocument, UTCDateTime, utcnow, uuid7


class OutboxMessage(Base):
    """A job to run after the transaction that recorded it commits. A relay moves pending rows
    to the queue; a crash or a Redis outage delays the work, it never loses it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # the relay's scan: pending rows, oldest first
        Index("ix_outbox_pending", "dispatched_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    job: Mapped[str] = mapped_column(String(100))  # a registered job's name
    queue: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column()  # the tenant the job runs for
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # rows with the same key pending at once become one job (one recompute per branch)
    coalesce_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
