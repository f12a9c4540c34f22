"""Dumping output through a plan compiled once per schema instance.

marshmallow's `dump` resolves each field's accessor and formatting for every value: for a page
of 50 members that is most of a list request's serialization time. The plan gives each field of
the common types (text, integers, UUIDs, dates and times in ISO format, enums by value, and
fields of ours with a `dump_converter`) a converter with marshmallow's own output, and leaves
every other field to marshmallow's `Field.serialize`; a schema with dump hooks, or a custom
attribute getter, is dumped by marshmallow as it is. `tests/test_schema_dump.py` checks the
output is marshmallow's, byte for byte, for every schema of the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, missing
from marshmallow.utils import ensure_text_type, get_value

_Convert = Callable[[Any], Any]


def _text(value: Any) -> Any:
    return None if value is None else (value if type(value) is str else ensure_text_type(value))


def _uuid(value: Any) -> Any:
    return None if value is None else str(value)


def _integer(value: Any) -> Any:
    return None if value is None else int(value)


def _formatted(format_func: Callable[[Any], Any]) -> _Convert:
    return lambda value: None if value is None else format_func(value)


def _enum_value(value: Any) -> Any:
    return None if value is None else value.value


def _converter(field: fields.Field) -> _Convert | None:
    """A converter equal to `field`'s own `_serialize` for its type; None: use marshmallow."""
    kind = type(field)
    # a field of ours may say how it dumps: the class whose `_serialize` it runs defines a
    # `dump_converter` beside it (a subclass with its own `_serialize` is left to marshmallow)
    serializer = next(k for k in kind.__mro__ if "_serialize" in vars(k))
    if "dump_converter" in vars(serializer):
        return field.dump_converter
    if kind is fields.String:
        return _text
    if kind is fields.UUID:
        return _uuid
    if kind is fields.Integer and not field.as_string:
        return _integer
    if kind in (fields.Date, fields.DateTime, fields.AwareDateTime):
        format_func = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        return _formatted(format_func) if format_func else None
    if kind is fields.Enum and field.by_value and type(field.field) is fields.Raw:
        return _enum_value
    return None


def _has_dump_hooks(schema: ma.Schema) -> bool:
    hooks = getattr(type(schema), "_hooks", None)
    if hooks is None:  # marshmallow changed how it keeps hooks: let it dump everything
        return True
    return any("dump" in str(tag) and names for tag, names in hooks.items())


class DumpPlan:
    """The fields of one schema instance, each with its key, attribute and converter."""

    def __init__(self, schema: ma.Schema) -> None:
        self._schema = schema
        self._steps = []
        for name, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else name
            attribute = field.attribute or name
            convert = _converter(field) if "." not in attribute else None
            self._steps.append((key, name, attribute, field, convert))

    def dump_one(self, obj: Any) -> dict:
        """One object as marshmallow would dump it."""
        out = {}
        by_key = hasattr(obj, "__getitem__")
        accessor = self._schema.get_attribute
        for key, name, attribute, field, convert in self._steps:
            if convert is None:
                value = field.serialize(name, obj, accessor=accessor)
            else:
                value = get_value(obj, attribute) if by_key else getattr(obj, attribute, missing)
                if value is missing:
                    default = field.dump_default
                    value = default() if callable(default) else default
                value = value if value is missing else convert(value)
            if value is not missing:
                out[key] = value
        return out


class PlannedDump:
    """A schema mix-in: `dump` through a `DumpPlan` where the schema allows it."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """As `marshmallow.Schema.dump`, faster for the common field types."""
        plan = self.__dict__.get("_pmsc_dump_plan", missing)
        if plan is missing:
            plain = type(self).get_attribute is ma.Schema.get_attribute
            plan = DumpPlan(self) if plain and not _has_dump_hooks(self) else None
            self.__dict__["_pmsc_dump_plan"] = plan
        if plan is None:
            return super().dump(obj, many=many)
        many = self.many if many is None else bool(many)
        if many:
            return [plan.dump_one(item) for item in obj]
        return plan.dump_one(obj)
