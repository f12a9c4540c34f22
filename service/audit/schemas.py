"""Audit event shapes for the API."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
from marshmallow import validate

from service.schema_base import InputSchema


class AuditEventSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    occurred_at = ma.fields.AwareDateTime(dump_only=True)
    actor = ma.fields.Method("_actor", dump_only=True)
    action = ma.fields.String(dump_only=True)
    object_type = ma.fields.String(dump_only=True)
    object_id = ma.fields.String(dump_only=True)
    changes = ma.fields.Dict(
        dump_only=True,
        metadata={
            "description": "changed fields: {field: {before, after}}; personal values masked"
        },
    )

    def _actor(self, event) -> dict:
        return {
            "issuer": event.actor_issuer,
            "subject": event.actor_subject,
            "name": event.actor_name,
        }


# a time at the edge of the calendar (year 1 with a positive offset) overflows in UTC
_IN_RANGE = validate.Range(
    min=datetime(1900, 1, 1, tzinfo=UTC),
    max=datetime(9000, 1, 1, tzinfo=UTC),
    error="Must be a time between 1900 and 9000.",
)


class AuditQuerySchema(InputSchema):
    object_type = ma.fields.String(validate=validate.Length(max=60))
    object_id = ma.fields.String(validate=validate.Length(max=64))
    action = ma.fields.String(validate=validate.OneOf(["create", "update", "delete"]))
    since = ma.fields.AwareDateTime(validate=_IN_RANGE)
    until = ma.fields.AwareDateTime(validate=_IN_RANGE)
