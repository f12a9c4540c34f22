"""The development login: pick a demo user, get a signed access token for the API.

Registered only when `PMSC_ENV=development` and `PMSC_DEV_LOGIN=1`."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from service.database import db
from service.demo import demo_users
from tenants.registry import Tenant, TenantStatus

bp = Blueprint("dev_login", __name__, url_prefix="/dev/login")


def _users():
    branches = list(
        db.session.scalars(
            select(Tenant).where(Tenant.status != TenantStatus.ARCHIVED).order_by(Tenant.slug)
        )
    )
    return demo_users(branches)


@bp.get("")
def choose():
    return render_template("dev_login.html", users=_users())


@bp.get("/<key>")
def sign_in(key: str):
    user = next((u for u in _users() if u.key == key), None)
    if user is None:
        abort(404)
    token = current_app.extensions["pmsc.dev_issuer"].issue(
        subject=f"dev:{user.key}", name=user.name, groups=list(user.groups)
    )
    return render_template("dev_token.html", user=user, token=token)
