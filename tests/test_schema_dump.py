"""The compiled dump (`service.schema_dump`) gives marshmallow's own output, for every schema of
the service and for the edge cases marshmallow defines: None, absent attributes, dump defaults,
data keys, other attribute names, mappings, collections, and schemas it must leave alone."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import marshmallow as ma
import pytest
from marshmallow import fields

import service
from service.activities.schemas import Hours
from service.schema_base import InputSchema, JsonDecimal
from service.schema_dump import DumpPlan


def _all_schemas() -> list[type[InputSchema]]:
    for module in pkgutil.walk_packages(service.__path__, "service."):
        importlib.import_module(module.name)
    found, todo = [], [InputSchema]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return sorted(set(found), key=lambda s: f"{s.__module__}.{s.__qualname__}")


def _value(field: fields.Field, rng: random.Random):
    if rng.random() < 0.15:
        return None
    if isinstance(field, fields.Enum):
        return rng.choice(list(field.enum))
    if isinstance(field, fields.UUID):
        return uuid.UUID(int=rng.getrandbits(128))
    if isinstance(field, fields.Integer):
        return rng.randint(-5, 10**6)
    if isinstance(field, fields.Float):
        return rng.random() * 100
    if isinstance(field, fields.Decimal) or type(field).__name__.endswith("Decimal"):
        return Decimal(rng.randint(0, 10**4)) / 100
    if isinstance(field, fields.Boolean):
        return rng.random() < 0.5
    if isinstance(field, fields.DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8))
    if isinstance(field, fields.Date):
        return date(2020, 1, 1) + timedelta(days=rng.randint(0, 3000))
    if isinstance(field, fields.String):
        return rng.choice(["", "张三", "a b", "x" * rng.randint(1, 30), "第一党小组"])
    return None


def _object(schema: ma.Schema, rng: random.Random):
    values = {}
    for name, field in schema.dump_fields.items():
        if rng.random() < 0.05:
            continue  # absent: both must leave the key out (or use the dump default)
        values[field.attribute or name] = _value(field, rng)
    return values if rng.random() < 0.3 else SimpleNamespace(**values)


def _json(data) -> str:
    # as text: 12 == 12.0 in Python, not in the body a client reads
    return json.dumps(data, ensure_ascii=False, default=repr)


SCHEMAS = _all_schemas()


def test_every_service_schema_is_planned_or_left_to_marshmallow_knowingly():
    assert len(SCHEMAS) >= 20
    planned = [s for s in SCHEMAS if s().dump.__func__ is InputSchema.dump]
    assert len(planned) == len(SCHEMAS)  # the override is inherited by every one of them


@pytest.mark.parametrize("schema_class", SCHEMAS, ids=lambda s: s.__qualname__)
def test_compiled_dump_equals_marshmallow_for_every_schema(schema_class):
    rng = random.Random(schema_class.__qualname__)
    schema = schema_class()
    compared = 0
    for _ in range(60):
        obj = _object(schema, rng)
        try:
            expected = ma.Schema.dump(schema, obj)
        except (AttributeError, KeyError, TypeError, ValueError):
            continue  # a field this generator cannot feed (a method reading other attributes)
        assert _json(schema.dump(obj)) == _json(expected)  # the same bytes, key order too
        compared += 1
    if any(type(f) not in (fields.Method, fields.Function) for f in schema.dump_fields.values()):
        assert compared > 0, "no object could be compared"
    many = schema_class(many=True)
    objects = [_object(many, rng) for _ in range(5)]
    try:
        expected_many = ma.Schema.dump(many, objects)
    except (AttributeError, KeyError, TypeError, ValueError):
        return
    assert _json(many.dump(objects)) == _json(expected_many)


class Colour(enum.Enum):
    RED = "red"


class Shapes(InputSchema):
    id = fields.UUID()
    label = fields.String(data_key="title")
    size = fields.Integer(attribute="width")
    when = fields.AwareDateTime()
    day = fields.Date()
    colour = fields.Enum(Colour, by_value=True)
    by_name = fields.Enum(Colour)
    count_text = fields.Integer(as_string=True)
    fallback = fields.String(dump_default="none given")
    nested = fields.Nested(lambda: Shapes(only=("label",)))
    dotted = fields.String(attribute="inner.name")
    raw_bytes = fields.String()


def test_edge_cases_match_marshmallow():
    day = date(2026, 3, 5)
    obj = SimpleNamespace(
        id=uuid.UUID(int=7),
        label="图",
        width=12.9,  # an Integer field dumps int(12.9)
        when=datetime(2026, 3, 5, 6, 7, 8, tzinfo=UTC),
        day=datetime(2026, 3, 5, 23, 0),  # a datetime in a Date field: the date part only
        colour=Colour.RED,
        by_name=Colour.RED,
        count_text=3,
        nested=SimpleNamespace(label="inner"),
        inner=SimpleNamespace(name="deep"),
        raw_bytes="字".encode(),
    )
    schema = Shapes()
    assert _json(schema.dump(obj)) == _json(ma.Schema.dump(schema, obj))
    assert schema.dump(obj)["day"] == day.isoformat()
    assert schema.dump(obj)["fallback"] == "none given"
    assert schema.dump({"title": "x", "label": "y"}) == ma.Schema.dump(schema, {"label": "y"})
    assert Shapes(many=True).dump([obj, obj]) == ma.Schema.dump(Shapes(many=True), [obj, obj])
    assert Shapes(only=("id",)).dump(obj) == {"id": str(uuid.UUID(int=7))}


def test_a_schema_with_dump_hooks_is_dumped_by_marshmallow():
    class Hooked(InputSchema):
        name = fields.String()

        @ma.post_dump
        def shout(self, data, **_kwargs):
            return {"name": data["name"].upper()}

    assert Hooked().dump(SimpleNamespace(name="quiet")) == {"name": "QUIET"}


def test_masked_member_dumps_its_masked_values():
    from service.members.schemas import MemberSchema
    from service.members.service import present

    values = dict.fromkeys(MemberSchema().dump_fields)
    values.update(phone="13800138000", id_card_number="11010519491231002X", name="李四")
    member = SimpleNamespace(**values)
    masked = present(member, reveal=False)
    assert MemberSchema().dump(masked) == ma.Schema.dump(MemberSchema(), masked)
    assert MemberSchema().dump(masked)["phone"] != "13800138000"


def test_plan_converts_only_the_types_it_knows():
    plan = DumpPlan(Shapes())
    converted = {key for key, *_rest, convert in plan._steps if convert is not None}
    assert converted == {"id", "title", "size", "when", "day", "colour", "fallback", "raw_bytes"}


class _Doubled(JsonDecimal):
    """A subclass that serializes its own way: its parent's converter is not its dump."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else float(value) * 2


class _Amounts(InputSchema):
    hours = Hours(Decimal(24))
    doubled = _Doubled()


def test_a_field_dumps_through_its_dump_converter_unless_a_subclass_serializes_otherwise():
    plan = DumpPlan(_Amounts())
    converted = {key for key, *_rest, convert in plan._steps if convert is not None}
    assert converted == {"hours"}
    amounts = SimpleNamespace(hours=Decimal("1.50"), doubled=Decimal("2"))
    assert _Amounts().dump(amounts) == {"hours": 1.5, "doubled": 4.0}
    assert _Amounts().dump(amounts) == ma.Schema.dump(_Amounts(), amounts)
