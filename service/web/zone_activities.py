"""The zone view's activities: the committee's zone activities, and for each the registrations
and attendance per branch (counts only, as `GET /api/v1/zone/activities/<id>/registrations`)."""

from __future__ import annotations

import uuid

from flask import Blueprint, render_template, request

from service.activities import zone
from service.activities.models import ActivityStatus
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.web.forms import page_arg, page_count

bp = Blueprint("zone_activity_pages", __name__, url_prefix="/zone/activities")

PAGE_SIZE = 50


@bp.get("")
@require(Action.ZONE_ACTIVITIES_READ)
def activity_list():
    """Newest first, optionally of one status, each with how many registered in all."""
    page = page_arg()
    try:
        status = ActivityStatus(request.args["status"]) if request.args.get("status") else None
    except ValueError:
        status = None
    activities, total = zone.list_zone_activities(
        db.session, status=status, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    registered = zone.registered_totals(db.session, activity_ids=[a.id for a in activities])
    return render_template(
        "zone/activities.html",
        zone_view=True,
        activities=activities,
        registered=registered,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        status=status,
        statuses=list(ActivityStatus),
    )


@bp.get("/<uuid:activity_id>")
@require(Action.ZONE_ACTIVITIES_READ)
def activity_page(activity_id: uuid.UUID):
    activity = zone.get_zone_activity(db.session, activity_id=activity_id)
    return render_template(
        "zone/activity.html",
        zone_view=True,
        activity=activity,
        branches=zone.branch_counts(db.session, activity_id=activity.id),
        registered=zone.registered_total(db.session, activity_id=activity.id),
        attended=zone.attended_total(db.session, activity_id=activity.id),
    )
