"""`GET /api/v1/me`: who the caller is, and which spaces it may enter."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from service.auth.current import current_principal
from service.database import db
from tenants.provisioning import tenants_by_slug

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The caller.")


class BranchMembershipSchema(ma.Schema):
    slug = ma.fields.String()
    name = ma.fields.String()
    status = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())


class MeSchema(ma.Schema):
    issuer = ma.fields.String()
    subject = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    zone_roles = ma.fields.List(ma.fields.String())
    branches = ma.fields.List(ma.fields.Nested(BranchMembershipSchema))


@blp.route("")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The caller, its zone roles, and the registered branches it has roles in."""
        principal = current_principal()
        tenants = tenants_by_slug(db.session, set(principal.branch_roles))
        return {
            "issuer": principal.issuer,
            "subject": principal.subject,
            "name": principal.name,
            "zone_roles": sorted(r.value for r in principal.zone_roles),
            "branches": [
                {
                    "slug": t.slug,
                    "name": t.name,
                    "status": t.status.value,
                    "roles": sorted(r.value for r in principal.roles_in(t.slug)),
                }
                for t in sorted(tenants.values(), key=lambda t: t.slug)
            ],
        }
