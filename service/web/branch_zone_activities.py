"""The branch's side of the committee's zone activities: the list, and for each activity its
details, the places left across the zone, and this branch's own registrations only, where the
branch registers its members, withdraws them, and records who came once the activity is held.
Same domain functions and permission checks as `/api/v1/t/<slug>/zone-activities`."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from service.activities import zone
from service.activities.models import ActivityStatus, AttendanceStatus, ZoneActivity
from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.errors import Conflict, DomainError
from service.members.service import MemberFilters, list_members
from service.web.activity_forms import said
from service.web.forms import page_arg, page_count

bp = Blueprint("branch_zone_activities", __name__, url_prefix="/t/<tenant_slug>/zone-activities")

PAGE_SIZE = 50
ROSTER_LIMIT = 5000  # the registration list offers the whole roster; a branch is far below this
ALL = "all"
# the zone's messages a registration can meet, in the catalogues
KNOWN_MESSAGES = (
    _l("No such member in this branch."),
    _l("This member is already registered."),
    _l("The zone activity is full (%(n)s places)."),
    _l("The zone activity is %(status)s: registration is closed."),
    _l("The zone activity is %(status)s: its registrations stay on record."),
    _l("The zone activity is %(status)s: attendance is recorded once it is held."),
)


class _ZoneCount:
    """All branches' registrations to one zone activity, read once in the zone context on a
    session of its own (the request's stays in the branch's), plus those this request adds:
    the domain's capacity check then counts a batch's own registrations too."""

    def __init__(self, activity_id: uuid.UUID) -> None:
        self.activity_id = activity_id
        self.added = 0
        self._base: int | None = None

    def __call__(self) -> int:
        if self._base is None:
            self._base = zone.zone_wide_totals(db.new_session, activity_ids=[self.activity_id])[
                self.activity_id
            ]
        return self._base + self.added


@bp.get("")
@require(Action.REGISTRATIONS_READ)
def activity_list():
    """Newest first; by default the planned ones (open for registration), as the API lists."""
    page = page_arg()
    wanted = request.args.get("status") or ActivityStatus.PLANNED.value
    try:
        status = None if wanted == ALL else ActivityStatus(wanted)
    except ValueError:
        status, wanted = ActivityStatus.PLANNED, ActivityStatus.PLANNED.value
    activities, total = zone.list_zone_activities(
        db.session, status=status, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    totals = zone.zone_wide_totals(db.new_session, activity_ids=[a.id for a in activities])
    # the request's session is in the branch's context: its own registrations only
    ours = zone.registered_totals(db.session, activity_ids=[a.id for a in activities])
    return render_template(
        "zone_activities/list.html",
        activities=activities,
        left={a.id: _left(a, totals[a.id]) for a in activities},
        ours=ours,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        status=wanted,
        statuses=list(ActivityStatus),
    )


@bp.get("/<uuid:activity_id>")
@require(Action.REGISTRATIONS_READ)
def activity_page(activity_id: uuid.UUID):
    """The activity, the places left across the zone, and this branch's registrations."""
    activity = zone.get_zone_activity(db.session, activity_id=activity_id)
    return _page(activity)


@bp.post("/<uuid:activity_id>/registrations")
@require(Action.REGISTRATIONS_WRITE)
def register(activity_id: uuid.UUID):
    """Register the chosen members, all or none: if one is refused (the activity full, the
    member registered already or not of this branch, registration closed), nothing is saved."""
    # locked: concurrent registrations to it wait, so the capacity count below stays true
    activity = zone.get_zone_activity(db.session, activity_id=activity_id, for_update=True)
    chosen = request.form.getlist("member_id")
    if not chosen:
        return _page(activity, errors={"member_id": [_("Choose at least one member.")]})
    names = _roster_names()
    count = _ZoneCount(activity.id)
    problems: list[str] = []
    conflict = False
    # a savepoint: a refused batch is undone before the page shows the registrations again
    batch = db.session.begin_nested()
    for value in chosen:
        try:
            member_id = uuid.UUID(value)
        except ValueError:
            problems.append(_("Not a member of this branch: %(value)s", value=value[:40]))
            continue
        try:
            zone.register(
                db.session,
                tenant_id=g.tenant.id,
                activity=activity,
                member_id=member_id,
                registered_total=count,
            )
        except DomainError as error:
            conflict = conflict or isinstance(error, Conflict)
            name = names.get(member_id, str(member_id))
            problems.append(_("%(name)s: %(problem)s", name=name, problem=said(error)))
        else:
            count.added += 1
    if problems:
        batch.rollback()
        return _page(
            activity, errors={"member_id": problems}, chosen=chosen, status=409 if conflict else 422
        )
    batch.commit()
    flash(_("%(n)s members registered.", n=count.added))
    return redirect(_page_url(activity.id), 303)


@bp.post("/<uuid:activity_id>/registrations/<uuid:registration_id>/cancel")
@require(Action.REGISTRATIONS_WRITE)
def cancel(activity_id: uuid.UUID, registration_id: uuid.UUID):
    """Withdraw one of the branch's registrations while the activity is planned."""
    activity = zone.get_zone_activity(db.session, activity_id=activity_id)
    registration, name = zone.get_registration(
        db.session, tenant_id=g.tenant.id, activity_id=activity_id, registration_id=registration_id
    )
    try:
        zone.cancel_registration(db.session, activity=activity, registration=registration)
    except DomainError as error:
        return _page(activity, errors={"_form": [said(error)]}, status=error.status)
    flash(_("The registration of %(name)s was withdrawn.", name=name))
    return redirect(_page_url(activity.id), 303)


@bp.post("/<uuid:activity_id>/attendance")
@require(Action.REGISTRATIONS_WRITE)
def attendance(activity_id: uuid.UUID):
    """Record who of the branch's registered members came, once the activity is held; every
    row is checked first, and a refused one saves nothing."""
    activity = zone.get_zone_activity(db.session, activity_id=activity_id)
    rows = zone.list_registrations(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
    posted = {
        str(r.id): request.form.get(f"attendance-{r.id}", "")
        for r, _name in rows
        if f"attendance-{r.id}" in request.form
    }
    errors: dict[str, list[str]] = {}
    wanted: list[tuple] = []
    for registration, _name in rows:
        value = posted.get(str(registration.id))
        if value is None:
            continue  # not in the form: left as it is
        try:
            wanted.append((registration, AttendanceStatus(value) if value else None))
        except ValueError:
            errors[str(registration.id)] = [_("Choose one of the listed statuses.")]
    if errors:
        return _page(activity, errors=errors, posted=posted, status=422)
    try:
        for registration, value in wanted:
            zone.record_attendance(
                db.session, activity=activity, registration=registration, attendance=value
            )
    except DomainError as error:
        return _page(activity, errors={"_form": [said(error)]}, posted=posted, status=error.status)
    flash(_("Attendance saved: %(n)s members recorded.", n=sum(1 for _r, v in wanted if v)))
    return redirect(_page_url(activity.id), 303)


def _left(activity: ZoneActivity, registered: int) -> int | None:
    """Places left across the zone (None: no limit)."""
    if activity.capacity is None:
        return None
    return max(activity.capacity - registered, 0)


def _roster() -> list:
    members, _total = list_members(
        db.session, tenant_id=g.tenant.id, filters=MemberFilters(), offset=0, limit=ROSTER_LIMIT
    )
    return members


def _roster_names() -> dict[uuid.UUID, str]:
    return {m.id: m.name for m in _roster()}


def _page(
    activity: ZoneActivity,
    *,
    errors: dict[str, list[str]] | None = None,
    chosen: list[str] | None = None,
    posted: dict[str, str] | None = None,
    status: int | None = None,
):
    errors = errors or {}
    posted = posted or {}
    rows = zone.list_registrations(db.session, tenant_id=g.tenant.id, activity_id=activity.id)
    registered = {r.member_id for r, _name in rows}
    can_write = allowed(Action.REGISTRATIONS_WRITE)
    planned = activity.status == ActivityStatus.PLANNED
    total = zone.zone_wide_totals(db.new_session, activity_ids=[activity.id])[activity.id]
    page = render_template(
        "zone_activities/page.html",
        activity=activity,
        rows=[
            (
                r,
                name,
                posted.get(str(r.id), r.attendance.value if r.attendance else ""),
                errors.get(str(r.id), []),
            )
            for r, name in rows
        ],
        errors=errors,
        registered_total=total,
        left=_left(activity, total),
        candidates=[m for m in _roster() if m.id not in registered]
        if can_write and planned
        else [],
        chosen=set(chosen or []),
        statuses=list(AttendanceStatus),
        can_register=can_write and planned,
        can_cancel=can_write and planned,
        can_record=can_write and activity.status == ActivityStatus.HELD,
    )
    return page, status or (422 if errors else 200)


def _page_url(activity_id: uuid.UUID) -> str:
    return url_for(
        "branch_zone_activities.activity_page", tenant_slug=g.tenant.slug, activity_id=activity_id
    )
