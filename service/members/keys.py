"""Key rotation of the members' encrypted fields."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.members.models import Member
from tenants.context import Context
from tenants.isolation import bind_context

ENCRYPTED_FIELDS = ("phone", "id_card_number")


def rotate_member_fields(session: Session, *, tenant_id: uuid.UUID, batch: int = 500) -> int:
    """Re-encrypt one branch's ID-card numbers and phones with the current (first) key;
    returns how many members were rewritten.

    Values are unchanged, so this is not an edit: an UPDATE statement rewrites the columns
    (through the tenant criteria) without a flush, so no audit event is recorded (flagging the
    attributes modified would log a made-up `before: null`), and `version` (the ETag) and
    `updated_at` stay as they are."""
    bind_context(session, Context.tenant(tenant_id))
    encrypted = [getattr(Member, f) for f in ENCRYPTED_FIELDS]
    rows = session.execute(
        select(Member.id, *encrypted)
        .where(Member.tenant_id == tenant_id)
        .where(encrypted[0].is_not(None) | encrypted[1].is_not(None))
        .order_by(Member.id)
    ).all()
    for start in range(0, len(rows), batch):
        for member_id, *values in rows[start : start + batch]:
            session.execute(
                update(Member)
                .where(Member.tenant_id == tenant_id, Member.id == member_id)
                .values(dict(zip(ENCRYPTED_FIELDS, values, strict=True)))
                .values(updated_at=Member.updated_at)
                .execution_options(synchronize_session=False)
            )
    session.flush()
    return len(rows)
