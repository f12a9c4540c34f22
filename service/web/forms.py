"""Form posts to domain input: empty fields, field-level errors in the person's language."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import marshmallow as ma
from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from service.errors import Invalid

# the messages of the schemas and domain rules a form can meet, in the catalogues; any other
# message is shown as the domain wrote it
KNOWN_MESSAGES = (
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Not a valid date."),
    _l("Not a valid datetime."),
    _l("Not a valid number."),
    _l("Not a valid integer."),
    _l("Not a valid UUID."),
    _l("Must not contain control characters."),
    _l("Only party members have this; leave it empty for this category."),
    _l("A party member is probationary or full."),
    _l("A probationary member has no full-membership date yet."),
    _l("Must not be before the date of joining the party."),
    _l("A member joins the party at 18 or older."),
    _l("Does not match the ID-card number."),
    _l("No such party group in this branch."),
    _l(
        "A mobile number has 11 digits starting with 1; "
        "a landline is 0, area code and number (e.g. 0512-66881234)."
    ),
    _l("An excused absence needs a reason."),
    _l("This record was changed by someone else since you opened it; reload and try again."),
)


def form_input(form: Mapping[str, str], fields: Iterable[str], required: Iterable[str]) -> dict:
    """The posted `fields`, trimmed; an empty optional field is None (it clears the value), an
    empty required one is left out (the schema then names it as missing)."""
    required = set(required)
    data: dict[str, Any] = {}
    for name in fields:
        value = (form.get(name) or "").strip()
        if value:
            data[name] = value
        elif name not in required:
            data[name] = None
    return data


def field_errors(error: ma.ValidationError | Invalid) -> dict[str, list[str]]:
    """Each field's messages, translated where the catalogue knows them."""
    raw = error.messages if isinstance(error, ma.ValidationError) else error.errors
    out: dict[str, list[str]] = {}
    for field, messages in dict(raw).items():
        if isinstance(messages, str):
            messages = [messages]
        out[str(field)] = [gettext(str(m)) for m in messages if isinstance(m, str)]
    return out


E = TypeVar("E", bound=enum.Enum)


def page_arg() -> int:
    """The list page asked for in the query string (1 when absent, bad or below 1)."""
    return max(request.args.get("page", 1, type=int), 1)


def enum_arg(enum_type: type[E], name: str) -> E | None:
    """A list filter from the query string; an unknown value is no filter (pages forgive it)."""
    try:
        return enum_type(request.args[name]) if request.args.get(name) else None
    except ValueError:
        return None
