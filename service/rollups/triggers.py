"""What a write asks of the rollups: an outbox message, in the write's own transaction, that
has the branch (or the whole zone) recomputed once it commits. Coalesced: however many writes
queue one, a branch is recomputed once."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from workers import outbox


def mark_branch_changed(session: Session, *, tenant_id: uuid.UUID) -> None:
    """Ask for the branch's rollup to be recomputed once this transaction commits."""
    outbox.record(
        session,
        job="rollups.recompute_branch",
        queue="rollups",
        tenant_id=tenant_id,
        coalesce_key=f"rollups:{tenant_id}",
    )


def mark_zone_changed(session: Session) -> None:
    """Ask for every branch's rollup to be recomputed once this transaction commits."""
    outbox.record(
        session, job="rollups.recompute_zone", queue="rollups", coalesce_key="rollups:zone"
    )
