"""Property (hypothesis, SQLite, a database of its own): after any sequence of activity,
attendance and roster writes through the service layer — each committed, so its outbox message
runs the branch's recompute in-process — the stored rows equal what a full zone recompute
writes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service import create_app
from service.activities import service as activities
from service.activities.models import Activity, ActivityKind, ActivityStatus, AttendanceStatus
from service.audit.recorder import set_actor
from service.config import Settings
from service.database import db
from service.errors import DomainError
from service.members import service as members
from service.members.models import Member
from service.rollups.jobs import recompute_tenants
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tests.conftest import environment
from tests.rollups.helpers import figures

CST = timezone(timedelta(hours=8))
KINDS = [ActivityKind.COMMITTEE_MEETING, ActivityKind.GENERAL_MEETING, ActivityKind.TRAINING]
PEOPLE = [
    {"name": "甲", "gender": "male", "category": "party-member", "party_status": "full"},
    {"name": "乙", "gender": "female", "category": "party-member", "party_status": "probationary"},
    {"name": "丙", "gender": "female", "category": "worker"},
]


@pytest.fixture(scope="module")
def own_app(tmp_path_factory, issuer):
    from service import schema_migrations

    env, _ = environment(
        "sqlite",
        tmp_path_factory.mktemp("incremental"),
        PMSC_OIDC_ISSUER=issuer.url,
        PMSC_OIDC_AUDIENCE=issuer.audience,
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    application = create_app(env)
    yield application
    with application.app_context():
        db.engine.dispose()


def _session(context: Context):
    session = db.new_session()
    bind_context(session, context)
    set_actor(session, {"iss": None, "sub": "test:incremental", "name": None})
    return session


def _branch(app) -> uuid.UUID:
    with app.app_context():
        session = _session(Context.system())
        tenant = provisioning.create_tenant(
            session, slug=f"p-{uuid.uuid4().hex[:12]}", name="支部", enterprise_name="公司",
            enterprise_type="private", industry="软件", employee_count=10,
            organization_type="branch",
        )  # fmt: skip
        session.commit()
        tenant_id = tenant.id
        session.close()
        session = _session(Context.tenant(tenant_id))
        for body in PEOPLE:
            members.create_member(session, tenant_id=tenant_id, fields=dict(body))
        session.commit()
        session.close()
    return tenant_id


create = st.tuples(
    st.just("create"),
    st.integers(0, 1),
    st.sampled_from(KINDS),
    st.integers(0, 21),  # months after January 2025
    st.sampled_from(list(ActivityStatus)),
    st.sampled_from(["0", "1.5", "8", "20"]),
)
attend = st.tuples(
    st.just("attend"), st.integers(0, 1), st.integers(0, 50), st.integers(0, 2),
    st.sampled_from(list(AttendanceStatus)),
)  # fmt: skip
restatus = st.tuples(
    st.just("status"), st.integers(0, 1), st.integers(0, 50), st.sampled_from(list(ActivityStatus))
)
# a member joins (one of PEOPLE again), changes category or party status, or leaves
roster = st.tuples(
    st.just("roster"), st.integers(0, 1), st.integers(0, 50),
    st.sampled_from(["join", "worker", "league", "full", "probationary", "leave"]),
)  # fmt: skip
CHANGES = {
    "worker": {"category": "worker", "party_status": None},
    "league": {"category": "league-member", "party_status": None},
    "full": {"category": "party-member", "party_status": "full"},
    "probationary": {"category": "party-member", "party_status": "probationary"},
}


def _apply(app, tenant_id: uuid.UUID, op: tuple) -> None:
    with app.app_context():
        session = _session(Context.tenant(tenant_id))
        try:
            ids = list(session.scalars(select(Activity.id).order_by(Activity.id)))
            if op[0] == "create":
                _, _, kind, months, status, hours = op
                starts = datetime(2025 + months // 12, months % 12 + 1, 28, 23, 30, tzinfo=CST)
                fields = {"kind": kind, "title": "会", "starts_at": starts, "ends_at": starts,
                          "status": status, "study_hours": hours}  # fmt: skip
                activities.create_activity(session, tenant_id=tenant_id, fields=fields)
            elif ids and op[0] == "attend":
                activity = activities.get_activity(
                    session, tenant_id=tenant_id, activity_id=ids[op[2] % len(ids)]
                )
                people = list(session.scalars(select(Member.id).order_by(Member.id)))
                fields = {"status": op[4], "reason": "事假" if op[4] == "excused" else None}
                if people:
                    member_id = people[op[3] % len(people)]
                    activities.set_attendance(
                        session, activity=activity, member_id=member_id, fields=fields
                    )
            elif ids and op[0] == "status":
                activity = activities.get_activity(
                    session, tenant_id=tenant_id, activity_id=ids[op[2] % len(ids)]
                )
                activities.update_activity(session, activity=activity, changes={"status": op[3]})
            elif op[0] == "roster":
                _, _, index, action = op
                people = list(session.scalars(select(Member).order_by(Member.id)))
                if action == "join":
                    body = dict(PEOPLE[index % len(PEOPLE)])
                    members.create_member(session, tenant_id=tenant_id, fields=body)
                elif people and action == "leave":
                    members.delete_member(session, member=people[index % len(people)])
                elif people and action in CHANGES:
                    member = people[index % len(people)]
                    members.update_member(session, member=member, changes=CHANGES[action])
            session.commit()  # the outbox message runs the branch's recompute here
        except DomainError:
            session.rollback()  # a refused write (not held, has attendance): nothing changes
        finally:
            session.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(create, attend, restatus, roster), min_size=1, max_size=8))
def test_the_incremental_rollup_equals_a_full_recompute(own_app, ops):
    branches = [_branch(own_app), _branch(own_app)]
    for op in ops:
        _apply(own_app, branches[op[1]], op)
    incremental = [figures(own_app, b) for b in branches]
    with own_app.app_context():
        report = recompute_tenants()
    assert not report.failed
    assert [figures(own_app, b) for b in branches] == incremental
