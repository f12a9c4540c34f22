"""Zone activities the working committee organises, and each branch's registrations to them.

The zone manages the activities and sees, per branch, only counts (registered, attended). A
branch registers its own members while an activity is planned, sees only its own registrations,
and records their attendance once the activity is held. Capacity counts every branch's
registrations: that count is a zone-context aggregate (a session bound to the zone context, read
only), never another branch's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.activities.models import (
    ActivityStatus,
    AttendanceStatus,
    ZoneActivity,
    ZoneRegistration,
)
from service.activities.service import (
    ATTENDED,
    check_activity,
)
from service.errors import Conflict, Invalid, NotFound
from service.members.models import Member
from service.messages import msg
from service.rollups.triggers import mark_branch_changed, mark_zone_changed
from tenants.registry import Tenant

# zone side


def list_zone_activities(
    session: Session, *, status: ActivityStatus | None, offset: int, limit: int
) -> tuple[list[ZoneActivity], int]:
    """Zone activities (optionally of one status), newest first, and how many in all."""
    query = select(ZoneActivity)
    if status:
        query = query.where(ZoneActivity.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ZoneActivity.starts_at.desc(), ZoneActivity.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def get_zone_activity(
    session: Session, *, activity_id: uuid.UUID, for_update: bool = False
) -> ZoneActivity:
    """One zone activity; `NotFound` otherwise."""
    query = select(ZoneActivity).where(ZoneActivity.id == activity_id)
    if for_update:
        query = query.with_for_update()
    activity = session.scalar(query)
    if activity is None:
        raise NotFound(msg("No zone activity %(id)s.", id=activity_id))
    return activity


def create_zone_activity(session: Session, *, fields: Mapping[str, Any]) -> ZoneActivity:
    """Add a zone activity after checking the rules every activity follows."""
    values = dict(fields)
    values.setdefault("status", ActivityStatus.PLANNED)
    values.setdefault("study_hours", 0)
    activity = ZoneActivity(**values)
    check_activity(activity)
    session.add(activity)
    session.flush()
    return activity


def update_zone_activity(
    session: Session, *, activity: ZoneActivity, changes: Mapping[str, Any], attended: int
) -> ZoneActivity:
    """Change a zone activity. `attended` is the zone-wide count of registrations with
    attendance: with any, the activity stays held (409)."""
    with session.no_autoflush:
        for name, value in changes.items():
            setattr(activity, name, value)
        check_activity(activity)
    if activity.status != ActivityStatus.HELD and attended:
        raise Conflict(msg("Branches have recorded attendance at this activity: it stays held."))
    session.flush()
    mark_zone_changed(session)
    return activity


def branch_counts(session: Session, *, activity_id: uuid.UUID) -> list[dict[str, Any]]:
    """Per branch (by slug) that registered anyone: how many registered and attended.
    `session` is in the zone context; only counts leave it."""
    attended = func.sum(case((ZoneRegistration.attendance.in_(ATTENDED), 1), else_=0))
    rows = session.execute(
        select(ZoneRegistration.tenant_id, func.count(ZoneRegistration.id), attended)
        .where(ZoneRegistration.zone_activity_id == activity_id)
        .group_by(ZoneRegistration.tenant_id)
    ).all()
    counts = {tenant_id: (registered, int(came or 0)) for tenant_id, registered, came in rows}
    if not counts:
        return []
    tenants = session.execute(
        select(Tenant.id, Tenant.slug, Tenant.name)
        .where(Tenant.id.in_(list(counts)))
        .order_by(Tenant.slug)
    )
    return [
        {"slug": slug, "name": name, "registered": counts[tid][0], "attended": counts[tid][1]}
        for tid, slug, name in tenants
    ]


def registered_total(session: Session, *, activity_id: uuid.UUID) -> int:
    """How many people of all branches registered (`session` in the zone context)."""
    return registered_totals(session, activity_ids=[activity_id])[activity_id]


def registered_totals(
    session: Session, *, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Registrations per activity, in one query: of all branches in the zone context, of the
    branch in a tenant context (the isolation layer filters); 0 for an activity without any."""
    if not activity_ids:
        return {}
    counted = session.execute(
        select(ZoneRegistration.zone_activity_id, func.count(ZoneRegistration.id))
        .where(ZoneRegistration.zone_activity_id.in_(activity_ids))
        .group_by(ZoneRegistration.zone_activity_id)
    )
    return {activity_id: 0 for activity_id in activity_ids} | dict(counted.all())


def zone_wide_totals(
    new_session: Callable[[], Session], *, activity_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """All branches' registrations per activity, for a caller in a branch's context: an
    aggregate read in the zone context on a session of its own (`new_session`), so the
    caller's session never leaves the branch's context."""
    from tenants.context import Context
    from tenants.isolation import bind_context

    session = new_session()
    try:
        bind_context(session, Context.zone())
        return registered_totals(session, activity_ids=activity_ids)
    finally:
        session.close()


def attended_total(session: Session, *, activity_id: uuid.UUID) -> int:
    """How many registrations of all branches have attendance recorded (zone context)."""
    return (
        session.scalar(
            select(func.count(ZoneRegistration.id)).where(
                ZoneRegistration.zone_activity_id == activity_id,
                ZoneRegistration.attendance.is_not(None),
            )
        )
        or 0
    )


# branch side


def list_registrations(
    session: Session, *, tenant_id: uuid.UUID, activity_id: uuid.UUID
) -> list[tuple[ZoneRegistration, str]]:
    """The branch's own registrations to a zone activity, with names, by name."""
    rows = session.execute(
        select(ZoneRegistration, Member.name)
        .join(
            Member,
            (Member.tenant_id == ZoneRegistration.tenant_id)
            & (Member.id == ZoneRegistration.member_id),
        )
        .where(
            ZoneRegistration.tenant_id == tenant_id,
            ZoneRegistration.zone_activity_id == activity_id,
        )
        .order_by(Member.name, Member.id)
    )
    return [(registration, name) for registration, name in rows]


def register(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    activity: ZoneActivity,
    member_id: uuid.UUID,
    registered_total: Callable[[], int],
) -> tuple[ZoneRegistration, str]:
    """Register one of the branch's members for a planned zone activity. `activity` is locked
    by the caller (`for_update`), and `registered_total` counts all branches' registrations
    (a zone-context aggregate), so capacity holds under concurrent registrations."""
    if activity.status != ActivityStatus.PLANNED:
        raise Conflict(
            msg(
                "The zone activity is %(status)s: registration is closed.",
                status=activity.status,
            )
        )
    name = session.scalar(
        select(Member.name).where(Member.tenant_id == tenant_id, Member.id == member_id)
    )
    if name is None:
        raise Invalid({"member_id": msg("No such member in this branch.")})
    if session.scalar(
        select(ZoneRegistration.id).where(
            ZoneRegistration.tenant_id == tenant_id,
            ZoneRegistration.zone_activity_id == activity.id,
            ZoneRegistration.member_id == member_id,
        )
    ):
        raise Conflict(msg("This member is already registered."))
    if activity.capacity is not None and registered_total() >= activity.capacity:
        raise Conflict(msg("The zone activity is full (%(n)s places).", n=activity.capacity))
    registration = ZoneRegistration(
        tenant_id=tenant_id, zone_activity_id=activity.id, member_id=member_id
    )
    session.add(registration)
    session.flush()
    return registration, name


def get_registration(
    session: Session, *, tenant_id: uuid.UUID, activity_id: uuid.UUID, registration_id: uuid.UUID
) -> tuple[ZoneRegistration, str]:
    """One of the branch's registrations to the zone activity; `NotFound` otherwise."""
    row = session.execute(
        select(ZoneRegistration, Member.name)
        .join(
            Member,
            (Member.tenant_id == ZoneRegistration.tenant_id)
            & (Member.id == ZoneRegistration.member_id),
        )
        .where(
            ZoneRegistration.tenant_id == tenant_id,
            ZoneRegistration.zone_activity_id == activity_id,
            ZoneRegistration.id == registration_id,
        )
    ).first()
    if row is None:
        raise NotFound(
            msg(
                "No registration %(id)s of this branch to this activity.",
                id=registration_id,
            )
        )
    return row[0], row[1]


def cancel_registration(
    session: Session, *, activity: ZoneActivity, registration: ZoneRegistration
) -> None:
    """Withdraw a registration while the activity is still planned."""
    if activity.status != ActivityStatus.PLANNED:
        raise Conflict(
            msg(
                "The zone activity is %(status)s: its registrations stay on record.",
                status=activity.status,
            )
        )
    session.delete(registration)
    session.flush()


def record_attendance(
    session: Session,
    *,
    activity: ZoneActivity,
    registration: ZoneRegistration,
    attendance: AttendanceStatus | None,
) -> ZoneRegistration:
    """Record whether a registered member came, once the zone activity is held."""
    if activity.status != ActivityStatus.HELD:
        raise Invalid(
            {
                "status": msg(
                    "The zone activity is %(status)s: attendance is recorded once it is held.",
                    status=activity.status,
                )
            }
        )
    registration.attendance = attendance
    session.flush()
    mark_branch_changed(session, tenant_id=registration.tenant_id)
    return registration
