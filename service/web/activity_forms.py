"""A branch's activity forms: create and edit (every field of the API's activity schema, the
kind-specific ones shown for the kinds they fit), and delete after a confirmation step. Same
schema, services and permission checks as the API; an edit is guarded by the version the form
was opened at, as the API's `If-Match` guards a PATCH."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime
from decimal import Decimal

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from service.activities import service
from service.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    ConsultationTopic,
    Festival,
    TrainingTopic,
)
from service.activities.schemas import ActivitySchema
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.errors import Conflict, DomainError, Invalid
from service.web.activities import ZONE
from service.web.forms import (
    STALE,
    changed_since_opened,
    field_errors,
    form_input,
    form_page,
    stale_errors,
    stored,
)

bp = Blueprint("branch_activity_forms", __name__, url_prefix="/t/<tenant_slug>/activities")

# every field the API's schema takes, in its order: a field added there shows up here
FIELDS = tuple(ActivitySchema().load_fields)
# the status too: the API defaults it, the form has it chosen knowingly
REQUIRED = ("kind", "title", "starts_at", "ends_at", "status")
CHOICES = {
    "kind": list(ActivityKind),
    "status": list(ActivityStatus),
    "consultation_topic": list(ConsultationTopic),
    "festival": list(Festival),
    "training_topic": list(TrainingTopic),
}
# which kinds each kind-specific field is shown for: the form offers a field only where the
# domain (`service.check_activity`) accepts it, and clears it for any other kind
KIND_FIELDS: dict[str, frozenset[ActivityKind]] = {
    "consultation_topic": frozenset({ActivityKind.CONSULTATION}),
    "festival": frozenset({ActivityKind.CULTURAL_SPORTS}),
    "training_topic": service.TRAINING_KINDS,
}
# the schema's and the activity rules' messages a form can meet, in the catalogues
KNOWN_MESSAGES = (
    _l("Must be between the years 2000 and 2099."),
    _l("At most two decimals (e.g. 1.5 or 0.25)."),
    _l("Must not be before starts_at."),
    _l("A consultation is on health, psychology or law."),
    _l("Only a consultation has a topic; leave it empty."),
    _l("Only a cultural or sports activity marks a festival."),
    _l("Only a training session or expert lecture has one."),
    _l("An activity that starts in the future cannot be held yet."),
    _l("Length must be between 1 and 200."),
    _l("Length must be between 1 and 100."),
    _l("Longer than maximum length 20000."),
    _l("Must be greater than or equal to 1 and less than or equal to 100000."),
    _l("Must be greater than or equal to 0 and less than or equal to 24."),
    _l("The activity has attendance recorded; clear its attendance first."),
    _l(
        "The activity has attendance recorded: it stays held. Clear its attendance "
        "first to mark it planned or cancelled."
    ),
)


@bp.route("/new", methods=["GET", "POST"])
@require(Action.ACTIVITIES_WRITE)
def activity_create():
    """A new activity; `refresh` re-shows the form with the fields of the chosen kind."""
    if request.method == "GET":
        return _form({"status": ActivityStatus.PLANNED.value, "study_hours": "0"}, {}, None)
    values = _posted(request.form)
    if request.form.get("refresh"):
        return _form(values, {}, None)
    try:
        fields = ActivitySchema().load(values)
        activity = service.create_activity(db.session, tenant_id=g.tenant.id, fields=fields)
    except (ma.ValidationError, Invalid) as error:
        return _form(values, field_errors(error), None)
    flash(_("Activity %(title)s added.", title=activity.title))
    return redirect(_page_url(activity.id), 303)


@bp.route("/<uuid:activity_id>/edit", methods=["GET", "POST"])
@require(Action.ACTIVITIES_WRITE)
def activity_edit(activity_id: uuid.UUID):
    """Change an activity; refused (409, nothing changed) if it was saved since the form opened."""
    activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
    title = activity.title  # the heading's, as stored (a refused edit may change it in memory)
    if request.method == "GET":
        return _form(_stored(activity), {}, activity, title=title)
    values = _posted(request.form)
    version = request.form.get("version", "")
    if request.form.get("refresh"):
        return _form(values, {}, activity, title=title, version=version)
    if version != str(activity.version):
        # someone saved it since this form was opened: refuse rather than overwrite
        return _form(values, stale_errors(), activity, title=title, version=version, status=409)
    try:
        changes = ActivitySchema().load(values)
        service.update_activity(db.session, activity=activity, changes=changes)
    except (ma.ValidationError, Invalid) as error:
        return _form(values, field_errors(error), activity, title=title, version=version)
    except Conflict as error:
        return _form(
            values, {"_form": [said(error)]}, activity, title=title, version=version, status=409
        )
    flash(_("Changes to %(title)s saved.", title=activity.title))
    return redirect(_page_url(activity.id), 303)


@bp.route("/<uuid:activity_id>/delete", methods=["GET", "POST"])
@require(Action.ACTIVITIES_WRITE)
def activity_delete(activity_id: uuid.UUID):
    """Ask first (GET); delete on the confirmation's POST, unless attendance is recorded."""
    activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
    if request.method == "GET":
        return _confirm(activity, [])
    if changed_since_opened(activity):
        return _confirm(activity, [str(STALE)], status=409)
    title = activity.title
    try:
        service.delete_activity(db.session, activity=activity)
    except Conflict as error:
        return _confirm(activity, [said(error)], status=409)
    flash(_("Activity %(title)s deleted.", title=title))
    return redirect(url_for("branch_activities.activity_list", tenant_slug=g.tenant.slug), 303)


def said(error: DomainError) -> str:
    """A domain error's message in the person's language, as the forms translate theirs."""
    if isinstance(error, Invalid):
        return " ".join(m for messages in field_errors(error).values() for m in messages)
    return field_errors(Invalid({"_": [error.message]}))["_"][0]


def _posted(form) -> dict:
    """The form as the schema takes it: times in the zone's clock, the capacity a number, the
    kind-specific fields only where the chosen kind has them (cleared otherwise)."""
    values = form_input(form, FIELDS, REQUIRED)
    for name in ("starts_at", "ends_at"):
        if values.get(name):
            values[name] = _aware(values[name])
    # numbers as the API reads them from JSON; text that is no number stays text, and the
    # schema names it
    if values.get("capacity"):
        with suppress(ValueError):
            values["capacity"] = int(values["capacity"])
    if values.get("study_hours") is None:
        values["study_hours"] = 0  # an empty field is no hours, as a new activity has
    else:
        with suppress(ValueError):
            values["study_hours"] = float(values["study_hours"])
    kind = _kind(values.get("kind"))
    for name, kinds in KIND_FIELDS.items():
        if kind not in kinds:
            values[name] = None
    return values


def _aware(value: str) -> str:
    """A `datetime-local` value (no offset) read in the zone's clock, with its offset; anything
    unreadable as it came, for the schema to refuse."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZONE)
    return moment.isoformat()


def _kind(value) -> ActivityKind | None:
    try:
        return ActivityKind(value) if value else None
    except ValueError:
        return None


def _stored(activity: Activity) -> dict:
    values = stored(activity, FIELDS)
    for name in ("starts_at", "ends_at"):
        values[name] = activity_local(getattr(activity, name))
    return values


def activity_local(moment: datetime | None) -> str:
    """An instant as a `datetime-local` input shows it, in the zone's clock."""
    if moment is None:
        return ""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def _shown_value(name: str, value) -> str:
    if value is None:
        return ""
    if name in ("starts_at", "ends_at") and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # as typed, for the person to correct
        return activity_local(moment) if moment.tzinfo else value
    if isinstance(value, float):
        return format(Decimal(str(value)).normalize(), "f")  # 1.5 and 0, not 1.50 or 0.0
    return str(getattr(value, "value", value))


def _form(
    values: dict,
    errors: dict[str, list[str]],
    activity: Activity | None,
    *,
    title: str | None = None,
    version: str | None = None,
    status: int | None = None,
):
    shown = {name: _shown_value(name, value) for name, value in values.items()}
    kind = _kind(shown.get("kind"))
    return form_page(
        "activities/form.html",
        shown,
        errors,
        status=status,
        activity=activity,
        title=title,
        version=version if version is not None else (activity.version if activity else None),
        choices=CHOICES,
        fits={name: kind in kinds for name, kinds in KIND_FIELDS.items()},
        kind_fields={
            name: " ".join(sorted(k.value for k in kinds)) for name, kinds in KIND_FIELDS.items()
        },
    )


def _confirm(activity: Activity, errors: list[str], *, status: int | None = None):
    page = render_template("activities/delete.html", activity=activity, errors=errors)
    return page, status or 200


def _page_url(activity_id: uuid.UUID) -> str:
    return url_for(
        "branch_activities.activity_page", tenant_slug=g.tenant.slug, activity_id=activity_id
    )
