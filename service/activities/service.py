"""The rules of a branch's activities and attendance. Plain functions: the session and tenant come
in, nothing commits (the request or the command owns the transaction).

Rules (each refusal names the field):
* `ends_at` is not before `starts_at`; both carry a UTC offset (the schema refuses naive ones);
* `consultation_topic` is required for a consultation and only for one; `festival` only for a
  cultural or sports activity; `training_topic` only for a training session or expert lecture;
* an activity starting in the future cannot be `held`;
* once an activity has attendance it stays `held` (409: clear its attendance first), and it
  cannot be deleted (409) - attendance feeds training hours and the zone's figures;
* attendance is recorded only for held activities (422 naming `status`), only for the branch's
  own members, `excused` needs a reason; a batch replaces the whole record, all or nothing.

Every write that changes what the zone's rollups show records an outbox message in the same
transaction (`mark_branch_changed`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from service.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    ZoneActivity,
)
from service.errors import Conflict, Invalid, NotFound
from service.members.models import Member
from service.messages import msg
from service.rollups.triggers import mark_branch_changed
from tenants.orm import utcnow
from tenants.table_reads import TableRecord, TenantTableRead

TRAINING_KINDS = frozenset({ActivityKind.TRAINING, ActivityKind.EXPERT_LECTURE})
ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)


# activities


@dataclass(frozen=True)
class ActivityFilters:
    kind: ActivityKind | None = None
    status: ActivityStatus | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None


# the list endpoints' hot path: see tenants.table_reads
ACTIVITY_PAGES = TenantTableRead(
    Activity,
    order_by=lambda t: (t.c.starts_at.desc(), t.c.id.desc()),
    conditions={
        "kind": lambda t: t.c.kind == bindparam("kind"),
        "status": lambda t: t.c.status == bindparam("status"),
        "starts_from": lambda t: t.c.starts_at >= bindparam("starts_from"),
        "starts_before": lambda t: t.c.starts_at < bindparam("starts_before"),
    },
)


def list_activities(
    session: Session, *, tenant_id: uuid.UUID, filters: ActivityFilters, offset: int, limit: int
) -> tuple[list[TableRecord], int]:
    """The branch's activities matching `filters`, newest first, and how many match in all
    (read-only records: load an activity with `get_activity` to change it)."""
    return ACTIVITY_PAGES.page(
        session, tenant_id=tenant_id, where=vars(filters), offset=offset, limit=limit
    )


def get_activity(session: Session, *, tenant_id: uuid.UUID, activity_id: uuid.UUID) -> Activity:
    """One activity of the branch; `NotFound` otherwise (also for another branch's)."""
    activity = session.scalar(
        select(Activity).where(Activity.tenant_id == tenant_id, Activity.id == activity_id)
    )
    if activity is None:
        raise NotFound(msg("No activity %(id)s in this branch.", id=activity_id))
    return activity


def create_activity(
    session: Session, *, tenant_id: uuid.UUID, fields: Mapping[str, Any]
) -> Activity:
    """Add an activity after checking its rules."""
    activity = Activity(tenant_id=tenant_id, **_with_defaults(fields))
    check_activity(activity)
    session.add(activity)
    session.flush()
    mark_branch_changed(session, tenant_id=tenant_id)
    return activity


def update_activity(
    session: Session, *, activity: Activity, changes: Mapping[str, Any]
) -> Activity:
    """Change an activity; the result must still satisfy the rules."""
    # the row lock first: a concurrent attendance write then either committed before our
    # count below (which sees it) or waits for us (and finds the activity no longer held)
    _lock(session, activity)
    with session.no_autoflush:
        for name, value in changes.items():
            setattr(activity, name, value)
        check_activity(activity)
        if activity.status != ActivityStatus.HELD and _attendance_count(session, activity):
            raise Conflict(
                msg(
                    "The activity has attendance recorded: it stays held. Clear its attendance "
                    "first to mark it planned or cancelled."
                )
            )
    session.flush()
    mark_branch_changed(session, tenant_id=activity.tenant_id)
    return activity


def delete_activity(session: Session, *, activity: Activity) -> None:
    """Delete an activity without attendance (one with attendance is a `Conflict`)."""
    _lock(session, activity)
    if _attendance_count(session, activity):
        raise Conflict(msg("The activity has attendance recorded; clear its attendance first."))
    tenant_id = activity.tenant_id
    session.delete(activity)
    session.flush()
    mark_branch_changed(session, tenant_id=tenant_id)


def _with_defaults(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    out.setdefault("status", ActivityStatus.PLANNED)
    out.setdefault("study_hours", 0)
    return out


def check_activity(a: Activity | ZoneActivity, *, now: datetime | None = None) -> None:
    """The rules across an activity's fields (a branch's or the zone's); `Invalid` naming each
    offending field."""
    errors: dict[str, str] = {}
    if a.starts_at and a.ends_at and a.ends_at < a.starts_at:
        errors["ends_at"] = msg("Must not be before starts_at.")
    if a.kind == ActivityKind.CONSULTATION and a.consultation_topic is None:
        errors["consultation_topic"] = msg("A consultation is on health, psychology or law.")
    if a.kind != ActivityKind.CONSULTATION and a.consultation_topic is not None:
        errors["consultation_topic"] = msg("Only a consultation has a topic; leave it empty.")
    if a.kind != ActivityKind.CULTURAL_SPORTS and a.festival is not None:
        errors["festival"] = msg("Only a cultural or sports activity marks a festival.")
    if a.kind not in TRAINING_KINDS and a.training_topic is not None:
        errors["training_topic"] = msg("Only a training session or expert lecture has one.")
    if a.status == ActivityStatus.HELD and a.starts_at > (now or utcnow()):
        errors["status"] = msg("An activity that starts in the future cannot be held yet.")
    if errors:
        raise Invalid(errors)


def _attendance_count(session: Session, activity: Activity) -> int:
    return (
        session.scalar(
            select(func.count(Attendance.id)).where(
                Attendance.tenant_id == activity.tenant_id, Attendance.activity_id == activity.id
            )
        )
        or 0
    )


# attendance


def list_attendance(session: Session, *, activity: Activity) -> list[tuple[Attendance, str]]:
    """The activity's attendance with each member's name, by name."""
    rows = session.execute(
        select(Attendance, Member.name)
        .join(
            Member,
            (Member.tenant_id == Attendance.tenant_id) & (Member.id == Attendance.member_id),
        )
        .where(Attendance.tenant_id == activity.tenant_id, Attendance.activity_id == activity.id)
        .order_by(Member.name, Member.id)
    )
    return [(attendance, name) for attendance, name in rows]


def replace_attendance(
    session: Session, *, activity: Activity, items: Sequence[Mapping[str, Any]]
) -> list[tuple[Attendance, str]]:
    """Replace the activity's whole attendance record by `items`; every item is checked before
    anything is written, so a refused batch changes nothing."""
    _lock(session, activity, refresh=True)
    _require_held(activity)
    names = _member_names(
        session, tenant_id=activity.tenant_id, ids=[i["member_id"] for i in items]
    )
    errors: dict[str, dict[str, str]] = {}
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(items):
        member_id = item["member_id"]
        if member_id not in names:
            errors[str(index)] = {"member_id": msg("No such member in this branch.")}
        elif member_id in seen:
            errors[str(index)] = {"member_id": msg("This member appears twice in the list.")}
        else:
            problem = _reason_problem(item)
            if problem:
                errors[str(index)] = {"reason": problem}
        seen.add(member_id)
    if errors:
        raise Invalid(errors)
    existing = {
        a.member_id: a
        for a in session.scalars(
            select(Attendance).where(
                Attendance.tenant_id == activity.tenant_id, Attendance.activity_id == activity.id
            )
        )
    }
    for member_id, record in existing.items():
        if member_id not in seen:
            session.delete(record)
    for item in items:
        record = existing.get(item["member_id"])
        if record is None:
            record = Attendance(
                tenant_id=activity.tenant_id, activity_id=activity.id, member_id=item["member_id"]
            )
            session.add(record)
        record.status = item["status"]
        record.reason = item.get("reason")
    session.flush()
    mark_branch_changed(session, tenant_id=activity.tenant_id)
    return list_attendance(session, activity=activity)


def set_attendance(
    session: Session, *, activity: Activity, member_id: uuid.UUID, fields: Mapping[str, Any]
) -> tuple[Attendance, str]:
    """Record (or change) one member's attendance at a held activity."""
    _lock(session, activity, refresh=True)
    _require_held(activity)
    names = _member_names(session, tenant_id=activity.tenant_id, ids=[member_id])
    if member_id not in names:
        raise NotFound(msg("No member %(id)s in this branch.", id=member_id))
    problem = _reason_problem(fields)
    if problem:
        raise Invalid({"reason": problem})
    record = _attendance_of(session, activity=activity, member_id=member_id)
    if record is None:
        record = Attendance(
            tenant_id=activity.tenant_id, activity_id=activity.id, member_id=member_id
        )
        session.add(record)
    record.status = fields["status"]
    record.reason = fields.get("reason")
    session.flush()
    mark_branch_changed(session, tenant_id=activity.tenant_id)
    return record, names[member_id]


def clear_attendance(session: Session, *, activity: Activity, member_id: uuid.UUID) -> None:
    """Remove one member's attendance record; `NotFound` if there is none."""
    _lock(session, activity)
    record = _attendance_of(session, activity=activity, member_id=member_id)
    if record is None:
        raise NotFound(msg("No attendance of member %(id)s at this activity.", id=member_id))
    session.delete(record)
    session.flush()
    mark_branch_changed(session, tenant_id=activity.tenant_id)


def _lock(session: Session, activity: Activity, *, refresh: bool = False) -> None:
    """Take the activity's write lock until the transaction ends. Every write of its attendance
    and every change of the activity takes it first, so they run one after another: two batches
    never interleave their deletes and inserts into a mix, two first records of one member never
    both insert, and no attendance lands on an activity being marked planned. What is read after
    it is what the previous holder committed; `refresh` reloads the activity itself (for an
    activity not changed in this transaction: its status may have moved while we waited)."""
    where = (Activity.tenant_id == activity.tenant_id, Activity.id == activity.id)
    if session.get_bind().dialect.name == "sqlite":
        # no row locks, and the transaction only begins at its first write (reads before it
        # see whatever is committed then): a write that changes nothing takes the database's
        # write lock now, waiting for the writer before us (busy_timeout)
        session.execute(
            update(Activity)
            .where(*where)
            .values(version=Activity.version, updated_at=Activity.updated_at)
            .execution_options(synchronize_session=False)
        )
    else:
        # a column, not the entity: the object's pending changes and version stay as they are
        session.execute(select(Activity.id).where(*where).with_for_update())
    if refresh:
        session.refresh(activity)


def _attendance_of(
    session: Session, *, activity: Activity, member_id: uuid.UUID
) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(
            Attendance.tenant_id == activity.tenant_id,
            Attendance.activity_id == activity.id,
            Attendance.member_id == member_id,
        )
    )


def _require_held(activity: Activity) -> None:
    if activity.status != ActivityStatus.HELD:
        raise Invalid(
            {
                "status": msg(
                    "The activity is %(status)s: attendance is recorded only for held activities.",
                    status=activity.status,
                )
            }
        )


def _reason_problem(item: Mapping[str, Any]) -> str | None:
    if item["status"] == AttendanceStatus.EXCUSED and not item.get("reason"):
        return msg("An excused absence needs a reason.")
    return None


def _member_names(
    session: Session, *, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Member.id, Member.name).where(
                Member.tenant_id == tenant_id, Member.id.in_(set(ids))
            )
        ).all()
    )
