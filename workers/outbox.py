"""Recording work in the outbox, inside the transaction of the write that asks for it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from workers.models import OutboxMessage

# set on a session that recorded work, so the in-process mode knows to run it after commit
RECORDED_KEY = "pmsc.outbox.recorded"
# on PostgreSQL a recording transaction also notifies this channel: delivered at commit (never
# on rollback), it wakes the worker's relay at once instead of at its next poll
NOTIFY_CHANNEL = "pmsc_outbox"


def record(
    session: Session,
    *,
    job: str,
    queue: str = "default",
    tenant_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
    coalesce_key: str | None = None,
) -> OutboxMessage:
    """Ask for `job` to run once the current transaction commits (never if it rolls back).

    Pending messages with the same `coalesce_key` run as one job."""
    message = OutboxMessage(
        job=job, queue=queue, tenant_id=tenant_id, payload=payload or {}, coalesce_key=coalesce_key
    )
    session.add(message)
    session.info[RECORDED_KEY] = True
    # the connection, not the session: a session statement would autoflush the caller's
    # pending rows here, moving their errors away from the flush the caller expects;
    # PostgreSQL delivers one notification per transaction for the same channel and payload
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return message
