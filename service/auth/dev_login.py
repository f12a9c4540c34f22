"""The development login: pick a demo user, be signed in (a real session), or take a signed
access token for the API.

Registered only when `PMSC_ENV=development` and `PMSC_DEV_LOGIN=1`; the configuration refuses
the flag in any other environment, so production can never offer it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from service.access import service as access
from service.audit.recorder import set_actor
from service.auth.signin import start_signed_in_session
from service.config import DEV_LOGIN_ISSUER
from service.database import db
from service.demo import DemoUser, demo_users
from tenants.registry import Tenant, TenantStatus

bp = Blueprint("dev_login", __name__, url_prefix="/dev/login")


def _users() -> list[DemoUser]:
    branches = list(
        db.session.scalars(
            select(Tenant).where(Tenant.status != TenantStatus.ARCHIVED).order_by(Tenant.slug)
        )
    )
    return demo_users(branches)


def _user(key: str) -> DemoUser:
    user = next((u for u in _users() if u.key == key), None)
    if user is None:
        abort(404)
    return user


@bp.get("")
def choose():
    return render_template("dev_login.html", users=_users())


@bp.post("/<key>")
def sign_in(key: str):
    """Sign in as the demo user: the same session a provider sign-in opens."""
    demo = _user(key)
    set_actor(db.session, {"iss": DEV_LOGIN_ISSUER, "sub": f"dev:{demo.key}", "name": demo.name})
    user = access.upsert_user(
        db.session,
        issuer=DEV_LOGIN_ISSUER,
        subject=f"dev:{demo.key}",
        name=demo.name,
        username=demo.key,
        email=None,
        groups=demo.groups,
    )
    return start_signed_in_session(user, None, None)


@bp.get("/<key>/token")
def token(key: str):
    """A signed access token for the demo user, for the API docs or curl."""
    demo = _user(key)
    signed = current_app.extensions["pmsc.dev_issuer"].issue(
        subject=f"dev:{demo.key}", name=demo.name, groups=list(demo.groups)
    )
    return render_template("dev_token.html", user=demo, token=signed)
