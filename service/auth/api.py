"""`GET /api/v1/me`: who the caller is, and which spaces it may enter."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from service.auth.current import current_principal, spaces_of

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
    csrf_token = ma.fields.String(
        allow_none=True,
        metadata={"description": "signed in by cookie: send it as X-CSRF-Token with every write"},
    )


@blp.route("")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self):
        """The caller, its zone roles, and the registered branches it has roles in (from its
        groups and from grants made in the app)."""
        principal = current_principal()
        return {
            "issuer": principal.issuer,
            "subject": principal.subject,
            "name": principal.name,
            "zone_roles": sorted(r.value for r in principal.zone_roles),
            "branches": [
                {
                    "slug": tenant.slug,
                    "name": tenant.name,
                    "status": tenant.status.value,
                    "roles": sorted(r.value for r in roles),
                }
                for tenant, roles in spaces_of(principal)
            ],
            "csrf_token": g.get("csrf_token"),
        }
