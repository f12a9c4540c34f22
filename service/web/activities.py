"""A branch's activity pages: the list (filter by kind, status, month), the month calendar,
and an activity's page where attendance is taken on one screen. Same services and permission
checks as the API."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request
from flask_babel import gettext as _

from service.activities import service
from service.activities.models import ActivityKind, ActivityStatus, AttendanceStatus
from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.errors import Invalid
from service.members.service import MemberFilters, list_members
from service.web import ZONE_TIMEZONE
from service.web.forms import enum_arg, field_errors, page_arg, page_count

bp = Blueprint("branch_activities", __name__, url_prefix="/t/<tenant_slug>/activities")

PAGE_SIZE = 50
ROSTER_LIMIT = 5000  # attendance lists the whole roster; a branch is far below this
ZONE = ZoneInfo(ZONE_TIMEZONE)


def _month(value: str | None) -> date:
    """The first day of `YYYY-MM`, or of this month in the zone."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        today = datetime.now(ZONE).date()
        return today.replace(day=1)


def _month_bounds(first: date) -> tuple[datetime, datetime]:
    """The month's start and end as UTC instants (months begin at midnight in the zone)."""
    following = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    return start, datetime.combine(following, datetime.min.time(), ZONE).astimezone(UTC)


@bp.get("")
@require(Action.ACTIVITIES_READ)
def activity_list():
    """Newest first; filter by kind, status and month."""
    page = page_arg()
    month = _month(request.args.get("month")) if request.args.get("month") else None
    start, end = _month_bounds(month) if month else (None, None)
    filters = service.ActivityFilters(
        kind=enum_arg(ActivityKind, "kind"),
        status=enum_arg(ActivityStatus, "status"),
        starts_from=start,
        starts_before=end,
    )
    activities, total = service.list_activities(
        db.session,
        tenant_id=g.tenant.id,
        filters=filters,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return render_template(
        "activities/list.html",
        activities=activities,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        filters=filters,
        month=month.strftime("%Y-%m") if month else "",
        kinds=list(ActivityKind),
        statuses=list(ActivityStatus),
        can_write=allowed(Action.ACTIVITIES_WRITE),
    )


@bp.get("/calendar")
@require(Action.ACTIVITIES_READ)
def activity_calendar():
    """One month, a week a row, each day with its activities."""
    first = _month(request.args.get("month"))
    start, end = _month_bounds(first)
    activities, _total = service.list_activities(
        db.session,
        tenant_id=g.tenant.id,
        filters=service.ActivityFilters(starts_from=start, starts_before=end),
        offset=0,
        limit=1000,
    )
    by_day: dict[date, list] = {}
    for activity in sorted(activities, key=lambda a: a.starts_at):
        by_day.setdefault(activity.starts_at.astimezone(ZONE).date(), []).append(activity)
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return render_template(
        "activities/calendar.html",
        first=first,
        weeks=weeks,
        by_day=by_day,
        previous=previous.strftime("%Y-%m"),
        following=following.strftime("%Y-%m"),
        can_write=allowed(Action.ACTIVITIES_WRITE),
    )


@bp.get("/<uuid:activity_id>")
@require(Action.ACTIVITIES_READ)
def activity_page(activity_id: uuid.UUID):
    """The activity, and its attendance: every member of the roster with a status."""
    activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
    return _page(activity, errors={}, posted={})


@bp.post("/<uuid:activity_id>")
@require(Action.ATTENDANCE_WRITE)
def take_attendance(activity_id: uuid.UUID):
    """Record the whole attendance at once; a refused batch changes nothing."""
    activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
    items, posted = _attendance_items(request.form)
    try:
        service.replace_attendance(db.session, activity=activity, items=items)
    except Invalid as error:
        return _page(activity, errors=_row_errors(error, items), posted=posted)
    flash(_("Attendance saved: %(n)s members recorded.", n=len(items)))
    return redirect(request.path, 303)


def _page(activity, *, errors: dict[str, list[str]], posted: dict[str, tuple[str, str]]):
    recorded = {
        a.member_id: a for a, _name in service.list_attendance(db.session, activity=activity)
    }
    members, _total = list_members(
        db.session, tenant_id=g.tenant.id, filters=MemberFilters(), offset=0, limit=ROSTER_LIMIT
    )
    rows = []
    for member in members:
        record = recorded.get(member.id)
        status, reason = posted.get(
            str(member.id),
            (record.status.value, record.reason or "") if record else ("", ""),
        )
        rows.append((member, status, reason, errors.get(str(member.id), [])))
    attended = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)
    page = render_template(
        "activities/page.html",
        activity=activity,
        rows=rows,
        errors=errors,
        statuses=list(AttendanceStatus),
        present=sum(1 for a in recorded.values() if a.status in attended),
        recorded=len(recorded),
        can_take=allowed(Action.ATTENDANCE_WRITE) and activity.status == ActivityStatus.HELD,
        can_write=allowed(Action.ACTIVITIES_WRITE),
    )
    return page, 422 if errors else 200


def _attendance_items(form) -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """The posted rows with a status, as the service takes them; and every posted row as typed,
    to show again after an error."""
    items, posted = [], {}
    for key in form:
        if not key.startswith("status-"):
            continue
        member_id = key.removeprefix("status-")
        status = form.get(key, "")
        reason = (form.get(f"reason-{member_id}") or "").strip()
        posted[member_id] = (status, reason)
        if not status:
            continue
        try:
            items.append(
                {
                    "member_id": uuid.UUID(member_id),
                    "status": AttendanceStatus(status),
                    "reason": reason or None,
                }
            )
        except ValueError:
            continue
    return items, posted


def _row_errors(error: Invalid, items: list[dict]) -> dict[str, list[str]]:
    """The service names a refused item by its index; the page by the member's id."""
    out: dict[str, list[str]] = {}
    for index, problems in error.errors.items():
        if isinstance(problems, dict) and index.isdigit() and int(index) < len(items):
            member_id = str(items[int(index)]["member_id"])
            out[member_id] = [m for ms in field_errors(Invalid(problems)).values() for m in ms]
        else:
            out.setdefault("_form", []).extend(
                m for ms in field_errors(Invalid({index: problems})).values() for m in ms
            )
    return out
