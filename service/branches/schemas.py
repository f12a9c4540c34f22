"""Branch registry shapes for the zone API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, validate

from service.schema_base import InputSchema
from tenants.registry import (
    SLUG_PATTERN,
    SLUG_RULE,
    EnterpriseType,
    OrganizationType,
    TenantStatus,
)


class BranchSchema(InputSchema):
    id = ma.fields.UUID(dump_only=True)
    slug = ma.fields.String(
        required=True,
        validate=validate.Regexp(SLUG_PATTERN, error=f"A slug is {SLUG_RULE}."),
        metadata={"description": f"{SLUG_RULE}; cannot be changed later"},
    )
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    enterprise_name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    enterprise_type = ma.fields.Enum(EnterpriseType, by_value=True, required=True)
    industry = ma.fields.String(required=True, validate=validate.Length(min=1, max=80))
    employee_count = ma.fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=1_000_000)
    )
    organization_type = ma.fields.Enum(OrganizationType, by_value=True, required=True)
    status = ma.fields.Enum(TenantStatus, by_value=True, load_default=TenantStatus.ACTIVE)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class BranchPatchSchema(BranchSchema):
    slug = ma.fields.String(metadata={"description": "cannot be changed"})
    status = ma.fields.Enum(TenantStatus, by_value=True)

    @ma.validates("slug")
    def _immutable(self, value, **_kwargs):
        raise ValidationError("The slug cannot be changed; create a new branch instead.")


class BranchQuerySchema(InputSchema):
    status = ma.fields.Enum(TenantStatus, by_value=True)
    enterprise_type = ma.fields.Enum(EnterpriseType, by_value=True)
    industry = ma.fields.String(validate=validate.Length(min=1, max=80))
    q = ma.fields.String(
        validate=validate.Length(min=1, max=120),
        metadata={"description": "name or enterprise name contains"},
    )
