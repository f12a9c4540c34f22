"""The caller of the current request, and the decorator that checks the permission table.

Three ways in: `Authorization: Bearer <JWT>` from the zone's provider (or the development
login), `Authorization: Bearer pmsct_...` (an integration's API token, one branch), or the
session cookie of a browser sign-in (every write then needs the session's CSRF token).
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_smorest import abort
from sqlalchemy import select

from service.access import service as access
from service.access.models import TokenScope, User, UserSession
from service.auth.bearer import BearerValidator, InvalidToken, TrustedIssuer
from service.auth.dev_issuer import DevIssuer
from service.auth.issuer_keys import RemoteIssuerKeys
from service.auth.permissions import ZONE_ACTIONS, Action, roles_allow
from service.auth.role_map import RoleMap
from service.auth.roles import Principal, Role
from service.config import DEV_LOGIN_AUDIENCE, Settings
from service.database import db
from service.messages import msg
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.orm import utcnow
from tenants.registry import Tenant

SESSION_COOKIE = "pmsc_session"
CSRF_HEADER = "X-CSRF-Token"
API_TOKEN_ISSUER = "urn:pmsc:api-token"  # noqa: S105 - a name, not a secret
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_USE_RECORD_SECONDS = 300  # last_used_at of a token is written at most every 5 minutes


def init_app(app: Flask, settings: Settings) -> None:
    """Trust the configured OpenID issuer, and the development login when it is on."""
    issuers = []
    if settings.oidc_issuer:
        issuers.append(
            TrustedIssuer(RemoteIssuerKeys(settings.oidc_issuer), settings.oidc_audience or "")
        )
    if settings.dev_login:
        dev = DevIssuer(settings.instance_path)
        app.extensions["pmsc.dev_issuer"] = dev
        issuers.append(TrustedIssuer(dev.keys(), DEV_LOGIN_AUDIENCE))
    algorithms = set(settings.oidc_algorithms) | ({"RS256"} if settings.dev_login else set())
    app.extensions["pmsc.bearer"] = BearerValidator(
        issuers, algorithms, settings.groups_claim, settings.role_map
    )


def _unauthorized(reason: str, error: str = "invalid_token") -> None:
    # the reason may quote the token's own header (its kid, its alg): a header value must stay
    # printable ASCII inside a quoted-string, or the server cannot send the response at all
    described = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in reason)
    challenge = f'Bearer realm="pmsc", error="{error}", error_description="{described}"'
    if error == "":
        challenge = 'Bearer realm="pmsc"'
    abort(401, message=f"Authentication failed: {reason}.", headers={"WWW-Authenticate": challenge})


def _settings() -> Settings:
    return current_app.config["PMSC_SETTINGS"]


def current_principal() -> Principal:
    """The authenticated caller; aborts with 401 and a `WWW-Authenticate` challenge otherwise."""
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header:
        principal = _from_authorization(header)
    elif cookie:
        principal = _from_session_cookie(cookie)
    else:
        _unauthorized("sign in, or send an access token as 'Authorization: Bearer <token>'", "")
    g.principal = principal
    return principal


def optional_principal() -> Principal | None:
    """The caller if the request is authenticated at all (for pages that also serve guests)."""
    if not request.headers.get("Authorization") and not request.cookies.get(SESSION_COOKIE):
        return None
    return current_principal()


def _from_authorization(header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        _unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
    if token.startswith(access.TOKEN_PREFIX):
        return _from_api_token(token)
    try:
        principal = current_app.extensions["pmsc.bearer"].principal(token)
    except InvalidToken as error:
        _unauthorized(str(error).replace('"', "'"))
    user_id = access.user_id_by_identity(
        db.session, issuer=principal.issuer, subject=principal.subject
    )
    return dataclasses.replace(principal, user_id=user_id)


def _from_api_token(secret: str) -> Principal:
    tenant_id = access.token_tenant_id(secret)
    tenant = db.session.get(Tenant, tenant_id) if tenant_id else None
    if tenant is None:
        _unauthorized("the API token is not valid")
    # the token is the branch's own data: look it up in the branch's context, apart from the
    # request's transaction (its use is recorded even when the request fails)
    with db.new_session() as session:
        bind_context(session, Context.tenant(tenant.id))
        token = access.live_token(session, tenant_id=tenant.id, secret=secret)
        if token is None:
            _unauthorized("the API token is not valid, has expired or was revoked")
        now = utcnow()
        if token.last_used_at is None or (
            (now - token.last_used_at).total_seconds() >= TOKEN_USE_RECORD_SECONDS
        ):
            access.record_token_use(session, token=token, now=now)
            session.commit()
        role = Role.TOKEN_READ_WRITE if token.scope == TokenScope.READ_WRITE else Role.TOKEN_READ
        return Principal(
            issuer=API_TOKEN_ISSUER,
            subject=f"api-token:{token.id}",
            name=token.name,
            branch_roles={tenant.slug: frozenset({role})},
            api_token_id=token.id,
        )


def _from_session_cookie(secret: str) -> Principal:
    settings = _settings()
    with db.new_session() as session:
        found = access.live_session(session, secret=secret, idle=settings.session_idle)
        session.commit()
    if found is None:
        _unauthorized("your session has ended; sign in again")
    record, user = found
    if request.method in WRITE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
        if not hmac.compare_digest(sent.encode(), record.csrf_token.encode()):
            abort(403, message=f"Send the session's CSRF token in the {CSRF_HEADER} header.")
    g.csrf_token = record.csrf_token
    return session_principal(user, record, settings.role_map)


def session_principal(user: User, record: UserSession, role_map: RoleMap) -> Principal:
    """The person a browser session speaks for, with the roles their latest groups confer."""
    zone, branches = role_map.roles(user.groups)
    return Principal(
        issuer=user.issuer,
        subject=user.subject,
        name=user.name,
        zone_roles=zone,
        branch_roles=branches,
        user_id=user.id,
        session_id=record.id,
    )


def branch_roles(principal: Principal, tenant: Tenant) -> frozenset[Role]:
    """The caller's roles in `tenant`: from groups (or its token) and from grants in the app.
    The request's session must be in the tenant's context."""
    roles = set(principal.roles_in(tenant.slug))
    if principal.user_id is not None:
        roles |= access.granted_roles(db.session, tenant_id=tenant.id, user_id=principal.user_id)
    return frozenset(roles)


def spaces_of(principal: Principal) -> list[tuple[Tenant, frozenset[Role]]]:
    """Every registered branch the caller has a role in, with the roles, by slug (suspended
    and archived ones too: the caller decides what to show)."""
    by_id: dict = {}
    if principal.user_id is not None:
        with db.new_session() as session:
            bind_context(session, Context.zone())
            by_id = access.grants_of_user(session, user_id=principal.user_id)
    slugs = set(principal.branch_roles)
    if not slugs and not by_id:
        return []
    tenants = db.session.scalars(
        select(Tenant)
        .where(Tenant.slug.in_(slugs) | Tenant.id.in_(list(by_id)))
        .order_by(Tenant.slug)
    )
    return [
        (tenant, frozenset(principal.roles_in(tenant.slug) | by_id.get(tenant.id, set())))
        for tenant in tenants
    ]


def require(action: Action) -> Callable:
    """View decorator: 403 unless the caller's roles allow `action` here."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not allowed(action):
                abort(403, message=msg("Your roles do not allow %(action)s.", action=action.value))
            return view(*args, **kwargs)

        wrapper.required_action = action
        return wrapper

    return decorator


def allowed(action: Action) -> bool:
    """Whether the caller may take `action` here (in the current branch, for branch actions)."""
    principal = current_principal()
    if action in ZONE_ACTIONS:
        return roles_allow(principal.zone_roles, action)
    return roles_allow(g.get("branch_roles", frozenset()), action)
