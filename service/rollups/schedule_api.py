"""`/api/v1/zone/meeting-schedule` (zone): the required meetings every branch is measured
against. Translation only; the rules are in `service.rollups.schedule`."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from service.activities.models import ActivityKind
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.rollups import schedule
from service.rollups.models import Frequency
from service.schema_base import InputSchema

blp = Blueprint(
    "meeting_schedule",
    __name__,
    url_prefix="/api/v1/zone",
    description="The zone's schedule of required meetings, which the rollups count against.",
)


class MeetingRequirementSchema(InputSchema):
    kind = ma.fields.Enum(ActivityKind, by_value=True, required=True)
    frequency = ma.fields.Enum(Frequency, by_value=True, required=True)
    times = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(min=1, max=100)
    )
    is_default = ma.fields.Boolean(dump_only=True)


@blp.route("/meeting-schedule")
class MeetingSchedule(MethodView):
    @require(Action.MEETING_SCHEDULE_READ)
    @blp.response(200, MeetingRequirementSchema(many=True))
    def get(self):
        """The required meetings: kind, frequency (monthly, quarterly, yearly) and times per
        month, quarter or year (`is_default` while the zone has set none)."""
        return schedule.schedule(db.session)

    @require(Action.MEETING_SCHEDULE_WRITE)
    @blp.arguments(MeetingRequirementSchema(many=True))
    @blp.response(200, MeetingRequirementSchema(many=True))
    def put(self, items):
        """Replace the schedule (an empty list restores the defaults); every branch's rollup
        is recomputed after the commit."""
        return schedule.set_schedule(db.session, items=items)
