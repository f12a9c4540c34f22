"""Records an audit event for every write of an audited model, at flush, in the same
transaction: a write that commits has its event, one that rolls back leaves none."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from tenants.isolation import TenantSession
from tenants.orm import is_tenant_owned, uuid7

ACTOR_KEY = "pmsc.actor"
MASK = "***"
_SKIPPED = frozenset({"id", "version", "created_at", "updated_at", "tenant_id"})


def set_actor(session: Session, actor: Mapping[str, str | None]) -> None:
    """Name who the session's writes are done by: `{"iss", "sub", "name"}`."""
    session.info[ACTOR_KEY] = dict(actor)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _columns(obj: Any):
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in _SKIPPED:
            continue
        column = attr.columns[0]
        yield attr.key, bool(column.info.get("sensitive"))


def _shown(value: Any, sensitive: bool) -> Any:
    if sensitive and value is not None:
        return MASK
    return _jsonable(value)


def _changes(obj: Any, action: str) -> dict[str, dict[str, Any]]:
    state = inspect(obj)
    changes: dict[str, dict[str, Any]] = {}
    for key, sensitive in _columns(obj):
        if action == "create":
            value = getattr(obj, key)
            default = state.mapper.columns[key].default
            if value is None and default is not None and default.is_scalar:
                value = default.arg
            if value is not None:
                changes[key] = {"before": None, "after": _shown(value, sensitive)}
        elif action == "delete":
            value = state.attrs[key].loaded_value
            if value is not None:  # like create: an empty field is no change
                changes[key] = {"before": _shown(value, sensitive), "after": None}
        else:
            history = state.attrs[key].history
            if not history.has_changes():
                continue
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before == after:
                continue
            changes[key] = {"before": _shown(before, sensitive), "after": _shown(after, sensitive)}
    return changes


@event.listens_for(TenantSession, "before_flush")
def _record(session: Session, _flush_context, _instances) -> None:
    actor = session.info.get(ACTOR_KEY) or {"iss": None, "sub": "system", "name": None}
    pending = [(o, "create") for o in session.new] + [(o, "update") for o in session.dirty]
    pending += [(o, "delete") for o in session.deleted]
    for obj, action in pending:
        if not getattr(type(obj), "__audited__", False):
            continue
        if action == "update" and not session.is_modified(obj, include_collections=False):
            continue
        if obj.id is None:
            obj.id = uuid7()  # the event names the object before the insert assigns its key
        changes = _changes(obj, action)
        if action == "update" and not changes:
            continue
        fields = {
            "actor_issuer": actor["iss"],
            "actor_subject": actor["sub"],
            "actor_name": actor["name"],
            "action": action,
            "object_type": type(obj).__tablename__,
            "object_id": str(obj.id) if obj.id is not None else "",
            "changes": changes,
        }
        if is_tenant_owned(type(obj)):
            session.add(TenantAuditEvent(tenant_id=obj.tenant_id, **fields))
        else:
            session.add(ZoneAuditEvent(**fields))
