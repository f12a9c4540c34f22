"""Shapes of accounts, grants and API tokens for the API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, validate

from service.access.models import GrantedRole, TokenScope
from service.access.service import MAX_TOKEN_DAYS
from service.schema_base import InputSchema
from tenants.orm import utcnow


class UserSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True, allow_none=True)
    username = ma.fields.String(dump_only=True, allow_none=True)
    email = ma.fields.String(dump_only=True, allow_none=True)
    last_sign_in_at = ma.fields.AwareDateTime(dump_only=True)


class UserQuerySchema(InputSchema):
    q = ma.fields.String(
        validate=validate.Length(min=1, max=120),
        metadata={"description": "name, username or e-mail contains"},
    )


class GrantSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    user = ma.fields.Nested(UserSchema, dump_only=True)
    role = ma.fields.Enum(GrantedRole, by_value=True, dump_only=True)
    granted_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class GrantCreateSchema(InputSchema):
    user_id = ma.fields.UUID(metadata={"description": "the account's id (GET /api/v1/zone/users)"})
    username = ma.fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "or the account's exact username or e-mail"},
    )
    role = ma.fields.Enum(GrantedRole, by_value=True, required=True)

    @ma.validates_schema
    def _one_account(self, data, **_kwargs):
        if ("user_id" in data) == ("username" in data):
            raise ValidationError(
                "Name the account by user_id or by username, not both.", field_name="user_id"
            )


class ApiTokenSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    scope = ma.fields.Enum(TokenScope, by_value=True, dump_only=True)
    hint = ma.fields.String(
        dump_only=True, metadata={"description": "the secret's last characters"}
    )
    status = ma.fields.Method("_status", dump_only=True)
    expires_at = ma.fields.AwareDateTime(dump_only=True)
    created_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    last_used_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)

    def _status(self, token) -> str:
        if token.revoked_at is not None:
            return "revoked"
        return "expired" if token.expires_at <= utcnow() else "active"


class ApiTokenCreatedSchema(ApiTokenSchema):
    secret = ma.fields.String(
        dump_only=True,
        metadata={"description": "shown once: store it now, it cannot be read again"},
    )


class ApiTokenCreateSchema(InputSchema):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=80))
    scope = ma.fields.Enum(TokenScope, by_value=True, required=True)
    expires_in_days = ma.fields.Integer(
        strict=True, load_default=90, validate=validate.Range(min=1, max=MAX_TOKEN_DAYS)
    )
