"""Reading and recomputing rollup rows outside a request."""

from __future__ import annotations

from sqlalchemy import select

from service.database import db
from service.rollups.compute import FIGURES, recompute_branch
from service.rollups.models import BranchRollup
from tenants.context import Context
from tenants.isolation import bind_context


def rows(app, tenant_id) -> dict[str, dict]:
    """The branch's stored rows by period: every figure and computed_at."""
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant_id))
        found = {
            r.period: {**{f: getattr(r, f) for f in FIGURES}, "computed_at": r.computed_at}
            for r in session.scalars(
                select(BranchRollup).where(BranchRollup.tenant_id == tenant_id)
            )
        }
        session.close()
    return found


def figures(app, tenant_id) -> dict[str, dict]:
    return {
        p: {k: v for k, v in r.items() if k != "computed_at"}
        for p, r in rows(app, tenant_id).items()
    }


def recompute(app, tenant_id, now=None) -> None:
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant_id))
        recompute_branch(session, tenant_id=tenant_id, now=now)
        session.commit()
        session.close()
