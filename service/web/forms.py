"""Form posts to domain input: empty fields, field-level errors in the person's language."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import marshmallow as ma
from flask import render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from service.errors import Invalid
from service.messages import Msg
from service.web.labels import label

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
    _l("No such party group in this branch."),
    _l(
        "A mobile number has 11 digits starting with 1; "
        "a landline is 0, area code and number (e.g. 0512-66881234)."
    ),
    _l("An excused absence needs a reason."),
)
# a form opened at a version of its record that someone has saved over since
STALE = _l("This record was changed by someone else since you opened it; reload and try again.")


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


def with_int(values: dict, name: str) -> dict:
    """`values` with field `name` as an int where the form's text is one, for a schema's strict
    integer field; otherwise as typed, for the schema to name ("Not a valid integer.")."""
    value = values.get(name)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value):
        return {**values, name: int(value)}
    return values


def field_errors(error: ma.ValidationError | Invalid) -> dict[str, list[str]]:
    """Each field's messages, translated where the catalogue knows them."""
    raw = error.messages if isinstance(error, ma.ValidationError) else error.errors
    out: dict[str, list[str]] = {}
    for field, messages in dict(raw).items():
        if isinstance(messages, str):
            messages = [messages]
        out[str(field)] = [translated(m) for m in messages if isinstance(m, str)]
    return out


def translated(message: str) -> str:
    """A domain message in the person's language: a `Msg` by its catalogue template with its
    values filled in (an enumeration value by its label), a fixed message by the catalogue;
    anything the catalogue lacks as the domain wrote it."""
    if isinstance(message, Msg) and message.params:
        values = {k: label(v) if isinstance(v, enum.Enum) else v for k, v in message.params.items()}
        return gettext(message.template, **values)
    return gettext(str(message))


def stored(record: object, fields: Iterable[str]) -> dict[str, Any]:
    """A record's `fields` as an edit form opens with them."""
    return {name: getattr(record, name) for name in fields}


def changed_since_opened(record: Any) -> bool:
    """Whether the posted form's `version` is not the record's: someone saved it since the
    form was opened, and the page refuses rather than overwrite (as the API's `If-Match`)."""
    return request.form.get("version") != str(record.version)


def stale_errors() -> dict[str, list[str]]:
    """The refused form's errors when `changed_since_opened`."""
    return {"_form": [str(STALE)]}


def shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as the fields show them: None empty, an enumeration by its value."""
    return {k: "" if v is None else getattr(v, "value", v) for k, v in values.items()}


def form_page(
    template: str, values: Mapping[str, Any], errors: dict, *, status: int | None = None, **context
):
    """A form page and its status: `status` where given, else 422 when it names errors, else
    200."""
    page = render_template(template, values=shown(values), errors=errors, **context)
    return page, status or (422 if errors else 200)


def page_count(total: int, size: int) -> int:
    """How many list pages `total` rows fill at `size` a page (at least one)."""
    return max((total + size - 1) // size, 1)


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
