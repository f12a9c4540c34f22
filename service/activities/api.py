"""`/api/v1/t/<slug>/activities`, `/training/summary`, `/zone-activities` (branch) and
`/api/v1/zone/activities`, `/api/v1/zone/training-targets` (zone): translation only."""

from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from service.activities import service, training, zone
from service.activities.schemas import (
    ActivityQuerySchema,
    ActivitySchema,
    AttendanceOneSchema,
    AttendanceSchema,
    BranchCountSchema,
    RegistrationAttendanceSchema,
    RegistrationSchema,
    TrainingSummarySchema,
    TrainingTargetSchema,
    YearQuerySchema,
    ZoneActivityQuerySchema,
)
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.etags import check_etag, set_etag
from service.messages import msg
from service.schema_base import page_offset

blp = Blueprint(
    "activities",
    __name__,
    url_prefix="/api/v1/t/<tenant_slug>",
    description="The branch's activities, attendance, training hours and zone registrations.",
)
zone_blp = Blueprint(
    "zone_activities",
    __name__,
    url_prefix="/api/v1/zone",
    description="The committee's zone activities and the yearly training-hours targets.",
)


def _attendance_view(record, name: str) -> dict:
    return {
        "member_id": record.member_id,
        "member_name": name,
        "status": record.status,
        "reason": record.reason,
        "recorded_at": record.recorded_at,
    }


def _registration_view(registration, name: str) -> dict:
    return {
        "id": registration.id,
        "zone_activity_id": registration.zone_activity_id,
        "member_id": registration.member_id,
        "member_name": name,
        "attendance": registration.attendance,
        "registered_at": registration.registered_at,
    }


# branch: activities


@blp.route("/activities")
class Activities(MethodView):
    @require(Action.ACTIVITIES_READ)
    @blp.arguments(ActivityQuerySchema(), location="query")
    @blp.response(200, ActivitySchema(many=True))
    @blp.paginate()
    def get(self, filters, pagination_parameters):
        """The branch's activities, newest first; filter by kind, status, start range."""
        activities, total = service.list_activities(
            db.session,
            tenant_id=g.tenant.id,
            filters=service.ActivityFilters(**filters),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return activities

    @require(Action.ACTIVITIES_WRITE)
    @blp.etag
    @blp.arguments(ActivitySchema())
    @blp.response(201, ActivitySchema)
    def post(self, fields):
        """Add an activity (planned unless said otherwise)."""
        activity = service.create_activity(db.session, tenant_id=g.tenant.id, fields=fields)
        set_etag(blp, activity)
        return activity


@blp.route("/activities/<uuid:activity_id>")
class ActivityById(MethodView):
    @require(Action.ACTIVITIES_READ)
    @blp.etag
    @blp.response(200, ActivitySchema)
    def get(self, activity_id: uuid.UUID):
        """One activity."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        set_etag(blp, activity)
        return activity

    @require(Action.ACTIVITIES_WRITE)
    @blp.etag
    @blp.arguments(ActivitySchema(partial=True))
    @blp.response(200, ActivitySchema)
    def patch(self, changes, activity_id: uuid.UUID):
        """Change an activity (e.g. mark it held); send the ETag you read in `If-Match`."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        check_etag(blp, activity)
        service.update_activity(db.session, activity=activity, changes=changes)
        set_etag(blp, activity)
        return activity

    @require(Action.ACTIVITIES_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, activity_id: uuid.UUID):
        """Delete an activity without attendance; send `If-Match`."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        check_etag(blp, activity)
        service.delete_activity(db.session, activity=activity)


@blp.route("/activities/<uuid:activity_id>/attendance")
class ActivityAttendance(MethodView):
    @require(Action.ACTIVITIES_READ)
    @blp.response(200, AttendanceSchema(many=True))
    def get(self, activity_id: uuid.UUID):
        """Who attended, by name."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        return [
            _attendance_view(*row) for row in service.list_attendance(db.session, activity=activity)
        ]

    @require(Action.ATTENDANCE_WRITE)
    @blp.arguments(AttendanceSchema(many=True))
    @blp.response(200, AttendanceSchema(many=True))
    def put(self, items, activity_id: uuid.UUID):
        """Replace the whole attendance record of a held activity; all or nothing."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        rows = service.replace_attendance(db.session, activity=activity, items=items)
        return [_attendance_view(*row) for row in rows]


@blp.route("/activities/<uuid:activity_id>/attendance/<uuid:member_id>")
class MemberAttendance(MethodView):
    @require(Action.ATTENDANCE_WRITE)
    @blp.arguments(AttendanceOneSchema())
    @blp.response(200, AttendanceSchema)
    def put(self, fields, activity_id: uuid.UUID, member_id: uuid.UUID):
        """Record one member's attendance at a held activity."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        return _attendance_view(
            *service.set_attendance(
                db.session, activity=activity, member_id=member_id, fields=fields
            )
        )

    @require(Action.ATTENDANCE_WRITE)
    @blp.response(204)
    def delete(self, activity_id: uuid.UUID, member_id: uuid.UUID):
        """Remove one member's attendance record."""
        activity = service.get_activity(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        service.clear_attendance(db.session, activity=activity, member_id=member_id)


# branch: training hours


@blp.route("/training/summary")
class TrainingSummary(MethodView):
    @require(Action.TRAINING_READ)
    @blp.arguments(YearQuerySchema(), location="query")
    @blp.response(200, TrainingSummarySchema)
    def get(self, query):
        """Each member's training hours in the year against their category's target, by name;
        and the branch's compliance."""
        year = query.get("year") or training.current_year()
        return training.summary(db.session, tenant_id=g.tenant.id, year=year)


# branch: zone activities and registrations


@blp.route("/zone-activities")
class OpenZoneActivities(MethodView):
    @require(Action.REGISTRATIONS_READ)
    @blp.arguments(ZoneActivityQuerySchema(), location="query")
    @blp.response(200, ActivitySchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """The committee's zone activities, newest first; by default the planned (open) ones."""
        activities, total = zone.list_zone_activities(
            db.session,
            status=query.get("status", zone.ActivityStatus.PLANNED),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return activities


def _zone_count(activity_id: uuid.UUID) -> int:
    """All branches' registrations to a zone activity (see `zone.zone_wide_totals`)."""
    return zone.zone_wide_totals(db.new_session, activity_ids=[activity_id])[activity_id]


@blp.route("/zone-activities/<uuid:activity_id>/registrations")
class Registrations(MethodView):
    @require(Action.REGISTRATIONS_READ)
    @blp.response(200, RegistrationSchema(many=True))
    def get(self, activity_id: uuid.UUID):
        """This branch's own members registered for the zone activity, by name."""
        zone.get_zone_activity(db.session, activity_id=activity_id)
        rows = zone.list_registrations(db.session, tenant_id=g.tenant.id, activity_id=activity_id)
        return [_registration_view(*row) for row in rows]

    @require(Action.REGISTRATIONS_WRITE)
    @blp.arguments(RegistrationSchema())
    @blp.response(201, RegistrationSchema)
    def post(self, body, activity_id: uuid.UUID):
        """Register one of the branch's members (409 when the activity is full)."""
        activity = zone.get_zone_activity(db.session, activity_id=activity_id, for_update=True)
        return _registration_view(
            *zone.register(
                db.session,
                tenant_id=g.tenant.id,
                activity=activity,
                member_id=body["member_id"],
                registered_total=lambda: _zone_count(activity_id),
            )
        )


@blp.route("/zone-activities/<uuid:activity_id>/registrations/<uuid:registration_id>")
class RegistrationById(MethodView):
    @require(Action.REGISTRATIONS_WRITE)
    @blp.arguments(RegistrationAttendanceSchema())
    @blp.response(200, RegistrationSchema)
    def put(self, body, activity_id: uuid.UUID, registration_id: uuid.UUID):
        """Record whether the registered member came (once the activity is held)."""
        activity = zone.get_zone_activity(db.session, activity_id=activity_id)
        registration, name = zone.get_registration(
            db.session,
            tenant_id=g.tenant.id,
            activity_id=activity_id,
            registration_id=registration_id,
        )
        zone.record_attendance(
            db.session, activity=activity, registration=registration, attendance=body["attendance"]
        )
        return _registration_view(registration, name)

    @require(Action.REGISTRATIONS_WRITE)
    @blp.response(204)
    def delete(self, activity_id: uuid.UUID, registration_id: uuid.UUID):
        """Withdraw a registration while the activity is planned."""
        activity = zone.get_zone_activity(db.session, activity_id=activity_id)
        registration, _name = zone.get_registration(
            db.session,
            tenant_id=g.tenant.id,
            activity_id=activity_id,
            registration_id=registration_id,
        )
        zone.cancel_registration(db.session, activity=activity, registration=registration)


# zone


@zone_blp.route("/activities")
class ZoneActivities(MethodView):
    @require(Action.ZONE_ACTIVITIES_READ)
    @zone_blp.arguments(ZoneActivityQuerySchema(), location="query")
    @zone_blp.response(200, ActivitySchema(many=True))
    @zone_blp.paginate()
    def get(self, query, pagination_parameters):
        """The committee's zone activities, newest first."""
        activities, total = zone.list_zone_activities(
            db.session,
            status=query.get("status"),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return activities

    @require(Action.ZONE_ACTIVITIES_WRITE)
    @zone_blp.etag
    @zone_blp.arguments(ActivitySchema())
    @zone_blp.response(201, ActivitySchema)
    def post(self, fields):
        """Organise a zone activity, open to every branch while planned."""
        activity = zone.create_zone_activity(db.session, fields=fields)
        set_etag(zone_blp, activity)
        return activity


@zone_blp.route("/activities/<uuid:activity_id>")
class ZoneActivityById(MethodView):
    @require(Action.ZONE_ACTIVITIES_READ)
    @zone_blp.etag
    @zone_blp.response(200, ActivitySchema)
    def get(self, activity_id: uuid.UUID):
        """One zone activity."""
        activity = zone.get_zone_activity(db.session, activity_id=activity_id)
        set_etag(zone_blp, activity)
        return activity

    @require(Action.ZONE_ACTIVITIES_WRITE)
    @zone_blp.etag
    @zone_blp.arguments(ActivitySchema(partial=True))
    @zone_blp.response(200, ActivitySchema)
    def patch(self, changes, activity_id: uuid.UUID):
        """Change a zone activity (e.g. mark it held); send `If-Match`."""
        activity = zone.get_zone_activity(db.session, activity_id=activity_id)
        check_etag(zone_blp, activity)
        zone.update_zone_activity(
            db.session,
            activity=activity,
            changes=changes,
            attended=zone.attended_total(db.session, activity_id=activity_id),
        )
        set_etag(zone_blp, activity)
        return activity


@zone_blp.route("/activities/<uuid:activity_id>/registrations")
class ZoneActivityCounts(MethodView):
    @require(Action.ZONE_ACTIVITIES_READ)
    @zone_blp.response(200, BranchCountSchema(many=True))
    def get(self, activity_id: uuid.UUID):
        """Per branch: how many registered and attended. Never names."""
        zone.get_zone_activity(db.session, activity_id=activity_id)
        return zone.branch_counts(db.session, activity_id=activity_id)


@zone_blp.route("/training-targets")
class TrainingTargets(MethodView):
    @require(Action.TRAINING_TARGETS_READ)
    @zone_blp.arguments(YearQuerySchema(), location="query")
    @zone_blp.response(200, TrainingTargetSchema(many=True))
    def get(self, query):
        """Each category's yearly training-hours target (`is_default` when the zone set none)."""
        return training.targets(db.session, year=query.get("year") or training.current_year())


@zone_blp.route("/training-targets/<int:year>")
class TrainingTargetsOfYear(MethodView):
    @require(Action.TRAINING_TARGETS_WRITE)
    @zone_blp.arguments(TrainingTargetSchema(many=True))
    @zone_blp.response(200, TrainingTargetSchema(many=True))
    def put(self, items, year: int):
        """Set the year's targets: listed categories get their hours (`null`: the default);
        unlisted ones fall back to the default (32 for party members, none for others)."""
        if not 2000 <= year <= 2099:
            raise training.Invalid({"year": msg("Must be between 2000 and 2099.")})
        return training.set_targets(db.session, year=year, items=items)
