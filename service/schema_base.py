"""The base of every input schema: trims text and refuses control characters by field; a decimal
field written as a JSON number; and the bound on list offsets."""

from __future__ import annotations

import re
from collections.abc import Mapping

import marshmallow as ma

from service.schema_dump import PlannedDump

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 (not tab, CR, LF), DEL, C1
# a surrogate code point in a Python str is always a lone one (JSON "\ud800"): it is not
# text, cannot be encoded as UTF-8, and neither database can store it
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InputSchema(PlannedDump, ma.Schema):
    """Trims surrounding spaces of text fields and refuses NUL and other control characters,
    which PostgreSQL cannot store and no person means to type, and lone surrogates. Dumps
    through a compiled plan (`service.schema_dump`).

    Applies to JSON bodies (dicts, and lists of them) and query strings (webargs'
    `MultiDictProxy`) alike."""

    # the whole collection at once: left to marshmallow, a `many` schema iterates the body
    # itself before its type is checked, so a list endpoint sent `42` or `null` was a
    # TypeError (a 500) instead of its "Invalid input type" (a 422)
    @ma.pre_load(pass_collection=True)
    def _clean_text(self, data, *, many: bool = False, **_kwargs):
        if not many:
            return _cleaned(data)
        if not isinstance(data, list):
            return data  # not a list: marshmallow refuses it
        errors = {}
        items = []
        for index, item in enumerate(data):
            try:
                items.append(_cleaned(item))
            except ma.ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ma.ValidationError(errors)
        return items


def _cleaned(data):
    """A mapping's text values trimmed; control characters and lone surrogates refused, by
    field. Anything else is returned as it is (the schema refuses it)."""
    if not isinstance(data, Mapping):
        return data
    errors = {}
    cleaned = {}
    for key, value in data.items():
        if isinstance(value, str):
            if _CONTROL.search(value):
                errors[key] = ["Must not contain control characters."]
            elif _SURROGATE.search(value):
                errors[key] = ["Must be valid Unicode text (it contains a lone surrogate)."]
            value = value.strip()
        cleaned[key] = value
    if errors:
        raise ma.ValidationError(errors)
    return cleaned


class JsonDecimal(ma.fields.Decimal):
    """A decimal written as a JSON number.

    marshmallow's `Decimal` dumps `Decimal` values, which JSON carries as strings; apispec
    writes a `Range`'s bounds through the field, so the document's `minimum` of a number was
    the string `"0.000"` (an invalid document: schemathesis refused to load it). It still
    reads a numeric string (`"1.5"`) as well as a number: exact decimals, as clients that
    avoid binary floats send them."""

    @staticmethod
    def dump_converter(value):
        """The value as the JSON number it is written as (`service.schema_dump` calls it)."""
        return None if value is None else float(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return self.dump_converter(value)


# flask-smorest bounds `page_size` but not `page`: `?page=10**20` would overflow the database's
# 64-bit OFFSET (a 500). A page that far out is past the last one, so it reads nothing.
MAX_OFFSET = 2**62


def page_offset(pagination_parameters) -> int:
    """The offset of the requested page, capped so the database can take it."""
    return min(pagination_parameters.first_item, MAX_OFFSET)
