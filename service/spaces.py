"""Every API request enters one space before its view runs: a branch's, or the zone's.

The branch space resolves the tenant from the URL, checks the caller belongs to it (another
branch's space is 404: its existence is not disclosed), honours suspension and archiving, and
binds the tenant context to the request's session. Writes need a JSON body.
"""

from __future__ import annotations

import json

from flask import Flask, current_app, g, request
from flask_smorest import abort

from service.audit.recorder import set_actor
from service.auth.current import branch_roles, current_principal
from service.database import db
from service.messages import msg
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.registry import SLUG_PATTERN, Tenant, TenantStatus
from tenants.table_reads import ZoneTableLookup

# every branch request starts here: a compiled read, not an ORM query (issue 5, B3). The
# request's branch is a read-only record: change a branch's registration through the ORM
BRANCH_BY_SLUG = ZoneTableLookup(Tenant, key=("slug",))
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(_pull_tenant_slug)
    app.before_request(_enter_space)
    app.after_request(_finish_unit_of_work)


def _pull_tenant_slug(_endpoint: str | None, values: dict | None) -> None:
    if values and "tenant_slug" in values:
        g.tenant_slug = values.pop("tenant_slug")


def _enter_space() -> None:
    """Branch pages and endpoints (`/api/v1/t/<slug>/...`, `/t/<slug>/...`) enter the branch;
    zone ones (`/api/v1/zone/...`, `/zone/...`) the zone."""
    path = request.path
    if "tenant_slug" in g:
        _enter_branch(g.tenant_slug)
    elif path.startswith(("/api/v1/zone/", "/zone/")) or path == "/zone":
        principal = current_principal()
        bind_context(db.session, Context.zone())
        set_actor(db.session, principal.actor)
    else:
        return
    if path.startswith("/api/"):
        _require_json_body()


def _enter_branch(slug: str) -> None:
    principal = current_principal()
    session = db.session
    # a slug no branch can have is not looked up: it is 404 like any unknown branch, and
    # PostgreSQL refuses some characters outright (a NUL byte in the URL was a 500)
    tenant = BRANCH_BY_SLUG.one(session, slug=slug) if SLUG_PATTERN.match(slug) else None
    roles: frozenset = frozenset()
    if tenant is not None:
        # grants are the branch's own data: read them in its context
        bind_context(session, Context.tenant(tenant.id))
        roles = branch_roles(principal, tenant)
    if not roles:
        if tenant is not None and principal.zone_roles:
            abort(
                403,
                message=msg(
                    "Zone roles see branches' figures in the zone view, "
                    "not the records of a branch's space."
                ),
            )
        abort(404, message=msg("No branch %(slug)r.", slug=slug))
    if tenant.status == TenantStatus.SUSPENDED:
        abort(
            403,
            message=msg(
                "Branch %(slug)r is suspended: its space is closed until the "
                "working committee reactivates it.",
                slug=slug,
            ),
        )
    if (
        tenant.status == TenantStatus.ARCHIVED
        and request.method in WRITE_METHODS
        and not _withdraws_access()
    ):
        abort(403, message=msg("Branch %(slug)r is archived: its space is read-only.", slug=slug))
    set_actor(session, principal.actor)
    g.tenant = tenant
    g.branch_roles = roles


def withdraws_access(view_method):
    """Mark a view that takes access away (revoking a token or a grant): it stays open in an
    archived branch, whose records are read-only but whose keys must still be withdrawable."""
    view_method.withdraws_access = True
    return view_method


def _withdraws_access() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = getattr(view_class, request.method.lower(), None) if view_class else view
    return bool(getattr(method, "withdraws_access", False))


def _require_json_body() -> None:
    if request.method not in WRITE_METHODS or request.method == "DELETE":
        return
    if request.mimetype not in JSON_TYPES:
        abort(
            415,
            message=f"Send the body as JSON with Content-Type: application/json "
            f"(got {request.mimetype or 'no content type'!r}).",
        )
    _require_valid_json()


def _require_valid_json() -> None:
    """400 for a body that is not JSON, or nested too deeply to parse (a RecursionError,
    which would otherwise be a 500). An empty body is left to the view's schema."""
    raw = request.get_data(cache=True)
    if not raw:
        return
    try:
        json.loads(raw)
    except RecursionError:
        abort(400, message="The JSON body is nested too deeply.")
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        abort(400, message=f"The body is not valid JSON (UTF-8): {error}.")


def _finish_unit_of_work(response):
    """One request, one transaction: commit on success, roll back on any error."""
    session = g.get("db_session")
    if session is None:
        return response
    if response.status_code < 400:
        session.commit()
    else:
        session.rollback()
    return response
