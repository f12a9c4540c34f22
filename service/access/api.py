"""Grants and API tokens: `/api/v1/zone/users`, `/api/v1/zone/tenants/<slug>/grants`,
`/api/v1/t/<slug>/grants`, `/api/v1/t/<slug>/api-tokens`."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from service.access import service as access
from service.access.models import GrantedRole
from service.access.schemas import (
    ApiTokenCreatedSchema,
    ApiTokenCreateSchema,
    ApiTokenSchema,
    GrantCreateSchema,
    GrantSchema,
    UserQuerySchema,
    UserSchema,
)
from service.auth.current import current_principal, require
from service.auth.permissions import Action
from service.database import db
from service.messages import msg
from service.schema_base import page_offset
from service.spaces import withdraws_access
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.orm import utcnow

zone_blp = Blueprint(
    "zone_access",
    __name__,
    url_prefix="/api/v1/zone",
    description="Accounts, and the branch roles the working committee grants in the app.",
)
branch_blp = Blueprint(
    "branch_access",
    __name__,
    url_prefix="/api/v1/t/<tenant_slug>",
    description="The branch's own grants of the member role, and its integrations' API tokens.",
)


def _granted_view(grant, user):
    grant.user = user
    return grant


def _grant(tenant_id: uuid.UUID, body: dict):
    user = access.find_user(db.session, user_id=body.get("user_id"), username=body.get("username"))
    grant = access.grant_role(
        db.session,
        tenant_id=tenant_id,
        user=user,
        role=body["role"],
        granted_by=current_principal().label,
    )
    return _granted_view(grant, user)


def _listed(tenant_id: uuid.UUID):
    return [
        _granted_view(grant, user)
        for grant, user in access.list_grants(db.session, tenant_id=tenant_id)
    ]


# zone


@zone_blp.route("/users")
class Users(MethodView):
    @require(Action.USERS_READ)
    @zone_blp.arguments(UserQuerySchema(), location="query")
    @zone_blp.response(200, UserSchema(many=True))
    @zone_blp.paginate()
    def get(self, query, pagination_parameters):
        """Accounts that have signed in, to grant them roles."""
        users, total = access.list_users(
            db.session,
            q=query.get("q"),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return users


def _enter_tenant_for_grants(slug: str):
    """The zone manages a branch's grants in the branch's own context (they are its data)."""
    tenant = provisioning.get_tenant(db.session, slug=slug)
    bind_context(db.session, Context.tenant(tenant.id))
    return tenant


@zone_blp.route("/tenants/<slug>/grants")
class ZoneGrants(MethodView):
    @require(Action.ZONE_GRANTS_READ)
    @zone_blp.response(200, GrantSchema(many=True))
    def get(self, slug: str):
        """The roles granted in the app in this branch."""
        return _listed(_enter_tenant_for_grants(slug).id)

    @require(Action.ZONE_GRANTS_WRITE)
    @zone_blp.arguments(GrantCreateSchema())
    @zone_blp.response(201, GrantSchema)
    def post(self, body, slug: str):
        """Grant an account a branch role (admin or member)."""
        return _grant(_enter_tenant_for_grants(slug).id, body)


@zone_blp.route("/tenants/<slug>/grants/<uuid:grant_id>")
class ZoneGrantById(MethodView):
    @require(Action.ZONE_GRANTS_WRITE)
    @zone_blp.response(204)
    def delete(self, slug: str, grant_id: uuid.UUID):
        """Revoke a grant: it stops working at the account's next request."""
        tenant = _enter_tenant_for_grants(slug)
        access.revoke_grant(
            db.session, grant=access.get_grant(db.session, tenant_id=tenant.id, grant_id=grant_id)
        )


# branch


@branch_blp.route("/grants")
class BranchGrants(MethodView):
    @require(Action.GRANTS_READ)
    @branch_blp.response(200, GrantSchema(many=True))
    def get(self):
        """Roles granted in the app in this branch."""
        return _listed(g.tenant.id)

    @require(Action.GRANTS_WRITE)
    @branch_blp.arguments(GrantCreateSchema())
    @branch_blp.response(201, GrantSchema)
    def post(self, body):
        """Grant an account the member role in this branch."""
        if body["role"] != GrantedRole.MEMBER:
            abort(
                403,
                message=msg(
                    "A branch admin grants the member role; the working committee "
                    "grants the admin role."
                ),
            )
        return _grant(g.tenant.id, body)


@branch_blp.route("/grants/<uuid:grant_id>")
class BranchGrantById(MethodView):
    @withdraws_access
    @require(Action.GRANTS_WRITE)
    @branch_blp.response(204)
    def delete(self, grant_id: uuid.UUID):
        """Revoke a member grant: it stops working at the account's next request."""
        grant = access.get_grant(db.session, tenant_id=g.tenant.id, grant_id=grant_id)
        if grant.role != GrantedRole.MEMBER:
            abort(403, message=msg("Only the working committee revokes the admin role."))
        access.revoke_grant(db.session, grant=grant)


@branch_blp.route("/api-tokens")
class ApiTokens(MethodView):
    @require(Action.API_TOKENS_READ)
    @branch_blp.response(200, ApiTokenSchema(many=True))
    def get(self):
        """The branch's API tokens (never their secrets), newest first."""
        return access.list_tokens(db.session, tenant_id=g.tenant.id)

    @require(Action.API_TOKENS_WRITE)
    @branch_blp.arguments(ApiTokenCreateSchema())
    @branch_blp.response(201, ApiTokenCreatedSchema)
    def post(self, body):
        """Create a token for an integration; the `secret` in the answer is shown only once."""
        token, secret = access.create_token(
            db.session,
            tenant=g.tenant,
            name=body["name"],
            scope=body["scope"],
            expires_at=utcnow() + timedelta(days=body["expires_in_days"]),
            created_by=current_principal().label,
        )
        token.secret = secret
        return token


@branch_blp.route("/api-tokens/<uuid:token_id>")
class ApiTokenById(MethodView):
    @withdraws_access
    @require(Action.API_TOKENS_WRITE)
    @branch_blp.response(204)
    def delete(self, token_id: uuid.UUID):
        """Revoke a token: it is refused (401) from the next request on."""
        access.revoke_token(db.session, tenant_id=g.tenant.id, token_id=token_id)
