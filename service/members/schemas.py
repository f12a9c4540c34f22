"""Member and party-group shapes for the API; field-level checks live here, rules across
fields in `service.py`."""

from __future__ import annotations

import re
from datetime import date

import marshmallow as ma
from marshmallow import ValidationError, validate

from service.members.id_card import parse_id_card
from service.members.models import Category, Education, Gender, PartyStatus
from service.schema_base import InputSchema

EARLIEST = date(1900, 1, 1)
_PHONE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")


def _not_future(value: date) -> None:
    if not EARLIEST <= value <= date.today():
        raise ValidationError(f"Must be between {EARLIEST.isoformat()} and today.")


def _phone(value: str) -> None:
    if not _PHONE.match(value.replace(" ", "")):
        raise ValidationError(
            "A mobile number has 11 digits starting with 1; "
            "a landline is 0, area code and number (e.g. 0512-66881234)."
        )


def _id_card(value: str) -> None:
    try:
        parse_id_card(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def _text(max_length: int, **kwargs) -> ma.fields.String:
    return ma.fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class MemberSchema(InputSchema):
    """A member as read and written. ID-card number and phone are masked for non-admins."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=50))
    gender = ma.fields.Enum(Gender, by_value=True, required=True)
    birth_date = ma.fields.Date(allow_none=True, validate=_not_future)
    ethnicity = _text(20, allow_none=True)
    education = ma.fields.Enum(Education, by_value=True, allow_none=True)
    phone = ma.fields.String(
        allow_none=True,
        validate=_phone,
        metadata={"description": "masked unless you are a branch admin"},
    )
    id_card_number = ma.fields.String(
        allow_none=True,
        validate=_id_card,
        metadata={"description": "18 characters; masked unless you are a branch admin"},
    )
    category = ma.fields.Enum(Category, by_value=True, required=True)
    party_status = ma.fields.Enum(
        PartyStatus, by_value=True, allow_none=True, metadata={"description": "party members only"}
    )
    joined_party_date = ma.fields.Date(allow_none=True, validate=_not_future)
    full_membership_date = ma.fields.Date(allow_none=True, validate=_not_future)
    position = _text(60, allow_none=True)
    party_group_id = ma.fields.UUID(allow_none=True)
    notes = ma.fields.String(allow_none=True, validate=validate.Length(max=1000))
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
    version = ma.fields.Integer(dump_only=True)


class MemberQuerySchema(InputSchema):
    category = ma.fields.Enum(Category, by_value=True)
    party_status = ma.fields.Enum(PartyStatus, by_value=True)
    name = ma.fields.String(
        validate=validate.Length(min=1, max=50), metadata={"description": "name contains"}
    )
    party_group_id = ma.fields.UUID()


class PartyGroupSchema(InputSchema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=60))
    notes = ma.fields.String(allow_none=True, validate=validate.Length(max=1000))
    member_count = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
