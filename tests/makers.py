"""Makers of the branches and accounts the robustness worlds fill: each returns a function
that creates a fresh one (unique slug or handle) every time it is called."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from service.database import db
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context


def tenant_maker(
    app, *, prefix: str, name: str, enterprise_type: str = "private", industry: str = "软件"
) -> Callable:
    """Branches named `name` with slugs `<prefix>-<random>`."""

    def make():
        with app.app_context():
            session = db.new_session()
            bind_context(session, Context.system())
            tenant = provisioning.create_tenant(
                session,
                slug=f"{prefix}-{uuid.uuid4().hex[:12]}",
                name=name,
                enterprise_name=name.replace("党支部", "有限公司"),
                enterprise_type=enterprise_type,
                industry=industry,
                employee_count=30,
                organization_type="branch",
            )
            session.commit()
            session.close()
        return tenant

    return make


def user_maker(app, *, prefix: str) -> Callable:
    """Accounts of the test issuer with subjects and usernames `<prefix>-<random>`."""
    from service.access import service as access

    def make():
        handle = uuid.uuid4().hex[:10]
        with app.app_context():
            session = db.new_session()
            bind_context(session, Context.system())
            user = access.upsert_user(
                session,
                issuer="https://idp.example",
                subject=f"{prefix}-{handle}",
                name=f"账户 {handle}",
                username=f"{prefix}-{handle}",
                email=None,
                groups=[],
            )
            session.commit()
            session.refresh(user)
            session.expunge(user)
            session.close()
        return user

    return make
