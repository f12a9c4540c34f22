"""A branch's access page (admins only): the people granted a role in the branch, granting the
member role and revoking it; the integrations' API tokens, made (the secret shown once, on the
answer to the form, never stored in clear, never flashed or logged), listed and revoked.

Same services and permission table as `/api/v1/t/<slug>/grants` and `.../api-tokens`: a branch
admin grants and revokes `member`; the working committee grants and revokes `admin`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import abort

from service.access import service as access
from service.access.models import GrantedRole, TokenScope
from service.access.schemas import ApiTokenCreateSchema, GrantCreateSchema
from service.auth.current import current_principal, require
from service.auth.permissions import Action
from service.auth.roles import Role
from service.database import db
from service.errors import Conflict, Invalid
from service.spaces import withdraws_access
from service.web.forms import field_errors, form_input, translated, with_int
from tenants.orm import utcnow

bp = Blueprint("access_pages", __name__, url_prefix="/t/<tenant_slug>/access")

TOKEN_FIELDS = ("name", "scope", "expires_in_days")
# how the pages name a token's scope: by the role it confers
SCOPE_ROLES = {TokenScope.READ: Role.TOKEN_READ, TokenScope.READ_WRITE: Role.TOKEN_READ_WRITE}
GRANT_ROLES = {GrantedRole.ADMIN: Role.BRANCH_ADMIN, GrantedRole.MEMBER: Role.BRANCH_MEMBER}
# the schemas' messages these forms can meet, for the catalogues (see forms.KNOWN_MESSAGES)
FORM_MESSAGES = (
    _l("Length must be between 1 and 80."),
    _l("Length must be between 1 and 255."),
    _l("Must be greater than or equal to 1 and less than or equal to 366."),
)


@bp.get("")
@require(Action.GRANTS_READ)
def access_page():
    """Grants and API tokens of the branch, with the forms that add them."""
    return _page()


@bp.post("/grants")
@require(Action.GRANTS_WRITE)
def grant_member():
    """Grant the member role to an account named by its exact username or e-mail."""
    values = form_input(request.form, ("username",), ("username",))
    if not values.get("username"):
        return _page(
            grant_values=values, grant_errors={"username": [_("Enter a username or e-mail.")]}
        )
    try:
        body = GrantCreateSchema().load({**values, "role": GrantedRole.MEMBER.value})
        user = access.find_user(db.session, user_id=None, username=body["username"])
        access.grant_role(
            db.session,
            tenant_id=g.tenant.id,
            user=user,
            role=body["role"],
            granted_by=current_principal().label,
        )
    except (ma.ValidationError, Invalid) as error:
        return _page(grant_values=values, grant_errors=_on_username(field_errors(error)))
    except Conflict as error:  # already granted
        return _page(
            grant_values=values, grant_errors={"username": [translated(error.message)]}, status=409
        )
    flash(_("%(name)s may now read the branch's records.", name=user.name or user.username))
    return redirect(_page_url(), 303)


@bp.post("/grants/<uuid:grant_id>/revoke")
@withdraws_access
@require(Action.GRANTS_WRITE)
def revoke_grant(grant_id: uuid.UUID):
    """Revoke a member grant; it stops working at the person's next request."""
    grant = access.get_grant(db.session, tenant_id=g.tenant.id, grant_id=grant_id)
    if grant.role != GrantedRole.MEMBER:
        abort(403, message=_("Only the working committee revokes the admin role."))
    access.revoke_grant(db.session, grant=grant)
    flash(_("The grant was revoked."))
    return redirect(_page_url(), 303)


@bp.post("/tokens")
@require(Action.API_TOKENS_WRITE)
def create_token():
    """Make a token; its secret is in this answer only (not cached, not kept in clear)."""
    values = form_input(request.form, TOKEN_FIELDS, TOKEN_FIELDS)
    try:
        body = ApiTokenCreateSchema().load(with_int(values, "expires_in_days"))
        token, secret = access.create_token(
            db.session,
            tenant=g.tenant,
            name=body["name"],
            scope=body["scope"],
            expires_at=utcnow() + timedelta(days=body["expires_in_days"]),
            created_by=current_principal().label,
        )
    except (ma.ValidationError, Invalid) as error:
        return _page(token_values=values, token_errors=field_errors(error))
    page = render_template(
        "access/token_created.html", token=token, secret=secret, scope=SCOPE_ROLES[token.scope]
    )
    return page, 201, {"Cache-Control": "no-store"}


@bp.post("/tokens/<uuid:token_id>/revoke")
@withdraws_access
@require(Action.API_TOKENS_WRITE)
def revoke_token(token_id: uuid.UUID):
    """Revoke a token: it is refused from the next request on."""
    token = access.revoke_token(db.session, tenant_id=g.tenant.id, token_id=token_id)
    flash(_("API token %(name)s revoked.", name=token.name))
    return redirect(_page_url(), 303)


def _page(
    *,
    grant_values: dict | None = None,
    grant_errors: dict | None = None,
    token_values: dict | None = None,
    token_errors: dict | None = None,
    status: int | None = None,
):
    now = utcnow()
    tokens = [
        (token, _token_status(token, now))
        for token in access.list_tokens(db.session, tenant_id=g.tenant.id)
    ]
    page = render_template(
        "access/page.html",
        grants=access.list_grants(db.session, tenant_id=g.tenant.id),
        tokens=tokens,
        scopes=SCOPE_ROLES,
        grant_roles=GRANT_ROLES,
        grant_values=grant_values or {},
        grant_errors=grant_errors or {},
        token_values={"expires_in_days": "90", **(token_values or {})},
        token_errors=token_errors or {},
        MEMBER=GrantedRole.MEMBER,
    )
    return page, status or (422 if grant_errors or token_errors else 200)


def _token_status(token, now) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now else "active"


def _on_username(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The form has one field: the schema's and the service's account errors go on it."""
    return {"username": [m for messages in errors.values() for m in messages]}


def _page_url() -> str:
    return url_for("access_pages.access_page", tenant_slug=g.tenant.slug)
