"""`GET /api/v1/t/<slug>/audit` (branch admins) and `GET /api/v1/zone/audit` (zone admins)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.audit.schemas import AuditEventSchema, AuditQuerySchema
from service.audit.service import list_events
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.schema_base import page_offset

branch_blp = Blueprint(
    "branch_audit",
    __name__,
    url_prefix="/api/v1/t/<tenant_slug>/audit",
    description="The branch's audit log: every write in its space.",
)
zone_blp = Blueprint(
    "zone_audit",
    __name__,
    url_prefix="/api/v1/zone/audit",
    description="The zone's audit log: every zone-level write.",
)


def _page(model, filters: dict, pagination):
    events, total = list_events(
        db.session,
        model=model,
        offset=page_offset(pagination),
        limit=pagination.page_size,
        **filters,
    )
    pagination.item_count = total
    return events


@branch_blp.route("")
class BranchAudit(MethodView):
    @require(Action.AUDIT_READ)
    @branch_blp.arguments(AuditQuerySchema(), location="query")
    @branch_blp.response(200, AuditEventSchema(many=True))
    @branch_blp.paginate()
    def get(self, filters, pagination_parameters):
        """The branch's audit events, newest first."""
        return _page(TenantAuditEvent, filters, pagination_parameters)


@zone_blp.route("")
class ZoneAudit(MethodView):
    @require(Action.ZONE_AUDIT_READ)
    @zone_blp.arguments(AuditQuerySchema(), location="query")
    @zone_blp.response(200, AuditEventSchema(many=True))
    @zone_blp.paginate()
    def get(self, filters, pagination_parameters):
        """Zone-level audit events, newest first."""
        return _page(ZoneAuditEvent, filters, pagination_parameters)
