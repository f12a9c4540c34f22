"""The audit logs as pages: a branch's own (`/t/<slug>/audit`, its admins) and the zone's
(`/zone/audit`, the committee roles `GET /api/v1/zone/audit` allows). Newest first, 50 a page,
filtered as the API filters (object type, object id, action, a date range in the zone's days);
each entry says when (the zone's local time), who, what and on what, with the changed fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.audit.service import list_events
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.web import ZONE_TIMEZONE
from service.web.forms import page_arg, page_count
from tenants.orm import Base, is_tenant_owned

branch_bp = Blueprint("branch_audit_pages", __name__, url_prefix="/t/<tenant_slug>/audit")
zone_bp = Blueprint("zone_audit_pages", __name__, url_prefix="/zone/audit")

PAGE_SIZE = 50
ZONE = ZoneInfo(ZONE_TIMEZONE)
ACTIONS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}
# what each audited table holds, as a person names it; another type is shown as recorded
OBJECT_TYPES = {
    "members": _l("Member"),
    "party_groups": _l("Party group"),
    "activities": _l("Activity"),
    "attendance": _l("Attendance record"),
    "zone_registrations": _l("Zone activity registration"),
    "role_grants": _l("Role grant"),
    "api_tokens": _l("API token"),
    "branch_rollups": _l("Branch figures"),
    "tenants": _l("Branch"),
    "users": _l("Account"),
    "training_targets": _l("Training-hours target"),
    "zone_activities": _l("Zone activity"),
    "meeting_requirements": _l("Meeting schedule"),
    "ranking_weights": _l("Ranking weights"),
    "bulk_load": _l("Bulk load"),
}


@dataclass(frozen=True)
class AuditFilters:
    """The filters of the query string, as typed (to show again) and as the service takes
    them; `errors` names a date that could not be read (that filter is then not applied)."""

    object_type: str
    object_id: str
    action: str
    since: str
    until: str
    errors: dict[str, list[str]]

    def service_filters(self) -> dict:
        """The filters for `list_events`: the date range as UTC instants of the zone's days,
        `until` inclusive."""
        since, until = _day(self.since), _day(self.until)
        return {
            "object_type": self.object_type or None,
            "object_id": self.object_id or None,
            "action": self.action or None,
            "since": _zone_midnight(since) if since else None,
            "until": _zone_midnight(until + timedelta(days=1)) if until else None,
        }


@branch_bp.get("")
@require(Action.AUDIT_READ)
def branch_audit():
    """The branch's audit log."""
    return _log_page(TenantAuditEvent, zone_view=False)


@zone_bp.get("")
@require(Action.ZONE_AUDIT_READ)
def zone_audit():
    """The zone's audit log: the register, zone settings, accounts."""
    return _log_page(ZoneAuditEvent, zone_view=True)


def audited_types(*, tenant_owned: bool) -> list[str]:
    """The object types an audit log can name: every audited table of its level."""
    found = {
        mapper.class_.__tablename__
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__audited__", False)
        and is_tenant_owned(mapper.class_) == tenant_owned
    }
    if tenant_owned:
        found.add("bulk_load")  # the generator's one event per branch for a bulk load
    return sorted(found, key=lambda t: str(OBJECT_TYPES.get(t, t)))


def _log_page(model, *, zone_view: bool):
    filters = _filters(tenant_owned=not zone_view)
    page = page_arg()
    events, total = list_events(
        db.session,
        model=model,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
        **filters.service_filters(),
    )
    return render_template(
        "audit/log.html",
        zone_view=zone_view,
        events=events,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        filters=filters,
        object_types=audited_types(tenant_owned=not zone_view),
        OBJECT_TYPES=OBJECT_TYPES,
        ACTIONS=ACTIONS,
    )


def _filters(*, tenant_owned: bool) -> AuditFilters:
    """The query's filters; an unknown action or object type is no filter (pages forgive),
    a date that cannot be read is named next to its field."""
    args = request.args
    action = args.get("action", "")
    object_type = args.get("object_type", "")
    errors: dict[str, list[str]] = {}
    dates = {}
    for name in ("since", "until"):
        value = (args.get(name) or "").strip()[:10]
        if value and _day(value) is None:
            errors[name] = [_("Not a valid date.")]
            value = ""
        dates[name] = value
    return AuditFilters(
        object_type=object_type if object_type in audited_types(tenant_owned=tenant_owned) else "",
        object_id=(args.get("object_id") or "").strip()[:64],
        action=action if action in ACTIONS else "",
        since=dates["since"],
        until=dates["until"],
        errors=errors,
    )


def _day(value: str) -> date | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    # the API's range: a day far outside it overflows once turned into an instant
    return day if day is None or 1900 <= day.year < 9000 else None


def _zone_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZONE).astimezone(UTC)
