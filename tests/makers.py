"""Makers of branches and accounts for tests: each returns a function that creates a fresh one
(unique slug or handle) every time it is called. The `make_branch` and `make_account` fixtures
are these on the test's app; module-scoped worlds (the robustness suites) call them directly."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from service.database import db
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context

# a small private enterprise's branch, unless the maker or the call says otherwise
BRANCH = {
    "name": "测试党支部",
    "enterprise_name": "测试有限公司",
    "enterprise_type": "private",
    "industry": "软件",
    "employee_count": 50,
    "organization_type": "branch",
}


def branch_maker(app, *, prefix: str = "b", **defaults) -> Callable:
    """Branches with slugs `<prefix>-<random>`; the fields of the call win over `defaults`,
    and those over `BRANCH`. Each returns the registered Tenant."""

    def make(**fields):
        values = {**BRANCH, **defaults, **fields}
        values.setdefault("slug", f"{prefix}-{uuid.uuid4().hex[:12]}")
        with app.app_context():
            session = db.new_session()
            bind_context(session, Context.system())
            tenant = provisioning.create_tenant(session, **values)
            session.commit()
            session.close()
        return tenant

    return make


def account_maker(app, *, prefix: str = "person") -> Callable:
    """Accounts as a browser sign-in leaves them (`upsert_user`), with subject and username
    `<prefix>-<random>` unless given; each returns the detached User."""
    from service.access import service as access

    def make(*, issuer: str = "https://idp.example", subject: str | None = None, **fields):
        handle = uuid.uuid4().hex[:12]
        fields.setdefault("name", f"账户 {handle}")
        fields.setdefault("username", f"{prefix}-{handle}")
        fields.setdefault("email", None)
        fields.setdefault("groups", [])
        with app.app_context():
            session = db.new_session()
            user = access.upsert_user(
                session, issuer=issuer, subject=subject or f"{prefix}-{handle}", **fields
            )
            session.commit()
            session.refresh(user)
            session.expunge(user)
            session.close()
        return user

    return make
