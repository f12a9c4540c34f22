"""The pages a person lands on after sign-in. Each reads through the same services, spaces and
permission table as the API."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template
from sqlalchemy import func, select

from service.activities.training import current_year
from service.auth.current import allowed, current_principal, optional_principal, require, spaces_of
from service.auth.permissions import Action
from service.auth.signin import landing_path
from service.database import db
from service.web.branch_figures import branch_home as home_figures
from service.web.branch_figures import own_standing
from tenants.registry import Tenant, TenantStatus

bp = Blueprint("pages", __name__)


@bp.get("/")
def landing():
    principal = optional_principal()
    if principal is not None:
        return redirect(landing_path(principal))
    settings = current_app.config["PMSC_SETTINGS"]
    return render_template(
        "landing.html", sso=bool(settings.oidc_client_id), dev_login=settings.dev_login
    )


@bp.get("/spaces")
def choose_space():
    principal = current_principal()
    return render_template(
        "spaces.html", spaces=spaces_of(principal), zone=bool(principal.zone_roles)
    )


@bp.get("/t/<tenant_slug>/")
@require(Action.MEMBERS_READ)
def branch_home():
    standing = None
    if allowed(Action.STANDING_READ):
        standing = own_standing(tenant_id=g.tenant.id, period=str(current_year()))
    return render_template(
        "branch_home.html",
        tenant=g.tenant,
        home=home_figures(db.session, tenant_id=g.tenant.id),
        standing=standing,
        roles=g.branch_roles,
    )


@bp.get("/zone/")
@require(Action.TENANTS_READ)
def zone_home():
    by_status = dict(
        db.session.execute(select(Tenant.status, func.count()).group_by(Tenant.status)).all()
    )
    branches = db.session.scalars(
        select(Tenant).where(Tenant.status != TenantStatus.ARCHIVED).order_by(Tenant.name)
    )
    return render_template(
        "zone_home.html",
        zone_view=True,
        branches=list(branches),
        by_status={s: by_status.get(s, 0) for s in TenantStatus},
        roles=current_principal().zone_roles,
    )
