"""Activity, attendance, training and zone-activity shapes for the API; field-level checks live
here, rules across fields in `service.py`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import marshmallow as ma
from marshmallow import ValidationError, validate

from service.activities.models import (
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    ConsultationTopic,
    Festival,
    TrainingTopic,
)
from service.members.models import Category
from service.schema_base import InputSchema, JsonDecimal

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_STUDY_HOURS = Decimal(24)
MAX_TARGET_HOURS = Decimal(1000)


def _in_range(value: datetime) -> None:
    if not EARLIEST <= value < LATEST:
        raise ValidationError("Must be between the years 2000 and 2099.")


class Hours(JsonDecimal):
    """Hours with at most two decimals, read as a JSON number and written as one."""

    def __init__(self, maximum: Decimal, **kwargs) -> None:
        super().__init__(validate=validate.Range(min=0, max=maximum), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if number.as_tuple().exponent < -2:
            raise ValidationError("At most two decimals (e.g. 1.5 or 0.25).")
        return number


def _when(description: str = "with its UTC offset, e.g. 2026-05-04T14:00:00+08:00", **kwargs):
    return ma.fields.AwareDateTime(
        validate=_in_range, metadata={"description": description}, **kwargs
    )


class ActivitySchema(InputSchema):
    """A branch's activity, and (the same shape) a zone activity."""

    id = ma.fields.UUID(dump_only=True)
    kind = ma.fields.Enum(ActivityKind, by_value=True, required=True)
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    consultation_topic = ma.fields.Enum(
        ConsultationTopic,
        by_value=True,
        allow_none=True,
        metadata={"description": "required for a consultation, and only for one"},
    )
    festival = ma.fields.Enum(
        Festival,
        by_value=True,
        allow_none=True,
        metadata={"description": "cultural or sports activities only"},
    )
    training_topic = ma.fields.Enum(
        TrainingTopic,
        by_value=True,
        allow_none=True,
        metadata={"description": "training sessions and expert lectures only"},
    )
    starts_at = _when(required=True)
    ends_at = _when(required=True)
    place = ma.fields.String(allow_none=True, validate=validate.Length(min=1, max=200))
    organizer = ma.fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    capacity = ma.fields.Integer(allow_none=True, strict=True, validate=validate.Range(1, 100_000))
    status = ma.fields.Enum(
        ActivityStatus,
        by_value=True,
        metadata={"description": "planned (default), held, cancelled"},
    )
    summary = ma.fields.String(allow_none=True, validate=validate.Length(max=20_000))
    study_hours = Hours(
        MAX_STUDY_HOURS, metadata={"description": "hours credited to attendees, 0-24, 2 decimals"}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class ActivityQuerySchema(InputSchema):
    kind = ma.fields.Enum(ActivityKind, by_value=True)
    status = ma.fields.Enum(ActivityStatus, by_value=True)
    starts_from = _when("starts at or after (with its UTC offset)")
    starts_before = _when("starts before (with its UTC offset)")


class AttendanceSchema(InputSchema):
    """One member at one activity."""

    member_id = ma.fields.UUID(required=True)
    member_name = ma.fields.String(dump_only=True)
    status = ma.fields.Enum(AttendanceStatus, by_value=True, required=True)
    reason = ma.fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "required when excused"},
    )
    recorded_at = ma.fields.AwareDateTime(dump_only=True)


class AttendanceOneSchema(AttendanceSchema):
    """One member's attendance, the member named by the URL."""

    class Meta:
        exclude = ("member_id",)


class YearQuerySchema(InputSchema):
    year = ma.fields.Integer(
        strict=False,
        validate=validate.Range(2000, 2099),
        metadata={"description": "default: the current year"},
    )


class TrainingTargetSchema(InputSchema):
    category = ma.fields.Enum(Category, by_value=True, required=True)
    hours = Hours(MAX_TARGET_HOURS, required=True, allow_none=True)
    is_default = ma.fields.Boolean(dump_only=True)


class MemberHoursSchema(ma.Schema):
    member_id = ma.fields.UUID()
    name = ma.fields.String()
    category = ma.fields.Enum(Category, by_value=True)
    hours = Hours(Decimal(10**6))
    target = Hours(Decimal(10**6), allow_none=True)
    compliant = ma.fields.Boolean(allow_none=True)


class TrainingTotalsSchema(ma.Schema):
    members = ma.fields.Integer()
    members_with_target = ma.fields.Integer()
    compliant = ma.fields.Integer()
    compliance_rate = ma.fields.Float(allow_none=True)


class TrainingSummarySchema(ma.Schema):
    year = ma.fields.Integer()
    members = ma.fields.List(ma.fields.Nested(MemberHoursSchema))
    totals = ma.fields.Nested(TrainingTotalsSchema)


class ZoneActivityQuerySchema(InputSchema):
    status = ma.fields.Enum(ActivityStatus, by_value=True)


class BranchCountSchema(ma.Schema):
    """A branch's figures for one zone activity: counts, never names."""

    slug = ma.fields.String()
    name = ma.fields.String()
    registered = ma.fields.Integer()
    attended = ma.fields.Integer()


class RegistrationSchema(InputSchema):
    id = ma.fields.UUID(dump_only=True)
    zone_activity_id = ma.fields.UUID(dump_only=True)
    member_id = ma.fields.UUID(required=True)
    member_name = ma.fields.String(dump_only=True)
    attendance = ma.fields.Enum(AttendanceStatus, by_value=True, dump_only=True, allow_none=True)
    registered_at = ma.fields.AwareDateTime(dump_only=True)


class RegistrationAttendanceSchema(InputSchema):
    attendance = ma.fields.Enum(AttendanceStatus, by_value=True, required=True, allow_none=True)
