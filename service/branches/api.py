"""`/api/v1/zone/tenants`: the working committee registers and manages branches."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from service.auth.current import require
from service.auth.permissions import Action
from service.branches.schemas import BranchPatchSchema, BranchQuerySchema, BranchSchema
from service.database import db
from service.etags import check_etag, set_etag
from service.schema_base import page_offset
from tenants import provisioning

blp = Blueprint(
    "branches",
    __name__,
    url_prefix="/api/v1/zone/tenants",
    description="The zone's register of branches (tenants).",
)


@blp.route("")
class Branches(MethodView):
    @require(Action.TENANTS_READ)
    @blp.arguments(BranchQuerySchema(), location="query")
    @blp.response(200, BranchSchema(many=True))
    @blp.paginate()
    def get(self, filters, pagination_parameters):
        """Registered branches by slug; filter by status, enterprise type, industry, name."""
        tenants, total = provisioning.list_tenants(
            db.session,
            status=filters.get("status"),
            enterprise_type=filters.get("enterprise_type"),
            industry=filters.get("industry"),
            name_contains=filters.get("q"),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return tenants

    @require(Action.TENANTS_WRITE)
    @blp.etag
    @blp.arguments(BranchSchema())
    @blp.response(201, BranchSchema)
    def post(self, fields):
        """Register a branch: its space exists at once (no DDL, constant time)."""
        tenant = provisioning.create_tenant(db.session, **fields)
        set_etag(blp, tenant)
        return tenant


@blp.route("/<slug>")
class BranchBySlug(MethodView):
    @require(Action.TENANTS_READ)
    @blp.etag
    @blp.response(200, BranchSchema)
    def get(self, slug: str):
        """One branch."""
        tenant = provisioning.get_tenant(db.session, slug=slug)
        set_etag(blp, tenant)
        return tenant

    @require(Action.TENANTS_WRITE)
    @blp.etag
    @blp.arguments(BranchPatchSchema(partial=True))
    @blp.response(200, BranchSchema)
    def patch(self, changes, slug: str):
        """Change a branch's details or status (active, suspended, archived); send `If-Match`."""
        tenant = provisioning.get_tenant(db.session, slug=slug)
        check_etag(blp, tenant)
        provisioning.update_tenant(db.session, tenant=tenant, changes=changes)
        set_etag(blp, tenant)
        return tenant
