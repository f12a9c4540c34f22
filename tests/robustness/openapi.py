"""The API as its OpenAPI document describes it: every `/api/v1` operation, and valid request
bodies generated from the operations' JSON schemas.

What the document cannot say is kept here, small and generic, in two places:

* `HINTS`: one valid example for the few fields whose rule is a custom validator (a phone, an
  ID-card number) or a pattern (a slug); every other value comes from the schema (types, enums,
  formats, lengths, ranges);
* references: a field `<thing>_id` of format uuid takes the id of an object of the collection
  whose last path segment names `<thing>` (`party_group_id` → `.../party-groups`,
  `member_id` → `.../members`, `user_id` → `/api/v1/zone/users`).

Rules across fields (a party member has a party status, a consultation a topic) are found by
asking: a body refused with 422 is repaired field by field, naming the fields the error names.
"""

from __future__ import annotations

import copy
import itertools
import random
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tests.api.helpers import id_card

API = "/api/v1/"
TENANT_PREFIX = "/api/v1/t/{tenant_slug}"
ZONE_PREFIX = "/api/v1/zone"
METHODS = ("get", "post", "put", "patch", "delete")
OMIT = object()  # a candidate that leaves the field out of the body

# valid text a person may type that software often gets wrong: astral plane (emoji, CJK
# extension B), combining marks, zero-width joiner, right-to-left text and override, full-width,
# quotes, backslash, percent and underscore (LIKE wildcards), angle brackets
UNUSUAL_TEXT = "😀𠀀\u0301\u200d\u202eעבｆ'\"\\%_<>&;"

# a moment in the past inside every range the API knows (activities: 2000-2099)
PAST = "2025-03-01T09:00:00+08:00"
PAST_DATE = "2001-06-01"


@dataclass(frozen=True)
class Operation:
    """One operation of the document."""

    method: str  # upper case
    template: str  # /api/v1/t/{tenant_slug}/members/{member_id}
    success: int
    body: Any  # the resolved JSON schema of the JSON body, or None
    query: tuple[tuple[str, dict], ...]  # (name, schema) of the query parameters
    if_match: bool  # needs an If-Match header
    action: Any = None  # the permission it requires (service.auth.permissions.Action)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.template)

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def space(self) -> str:
        if self.template.startswith(TENANT_PREFIX + "/"):
            return "tenant"
        if self.template.startswith(ZONE_PREFIX + "/"):
            return "zone"
        return "other"

    @property
    def params(self) -> list[str]:
        """Path parameters after the branch's slug, outermost first."""
        return [p for p in re.findall(r"{(\w+)}", self.template) if p != "tenant_slug"]

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    @property
    def targets_item(self) -> bool:
        """The path ends with an object's id (`.../members/{member_id}`)."""
        return self.template.endswith("}") and bool(self.params)

    @property
    def collection(self) -> str:
        """The collection the operation creates in or reads (the path without a final id)."""
        return collection_of(self.template, self.params[-1]) if self.targets_item else self.template


def collection_of(template: str, param: str) -> str:
    """`.../activities/{activity_id}/attendance/{member_id}`, `member_id` →
    `.../activities/{activity_id}/attendance`."""
    return template[: template.index("/{" + param + "}")]


def singular(segment: str) -> str:
    """`party-groups` → `party_group`, `activities` → `activity`, `zone` → `zone`."""
    name = segment.replace("-", "_")
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") else name


def resolve(schema: Any, components: Mapping[str, Any]) -> Any:
    """`schema` with every `$ref` (and single-item `allOf`) replaced by what it names."""
    if isinstance(schema, list):
        return [resolve(s, components) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return resolve(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        return {**resolve(schema["allOf"][0], components), **merged}
    return {k: resolve(v, components) for k, v in schema.items()}


def operations(app, client) -> list[Operation]:
    """Every `/api/v1` operation of the app's OpenAPI document, with the action its view
    requires (from the URL map)."""
    document = client.get("/api/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    parameters = document["components"].get("parameters", {})
    actions = _actions(app)
    found = []
    for path, item in document["paths"].items():
        if not path.startswith(API):
            continue
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            successes = [int(c) for c in operation["responses"] if c.startswith("2")]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            params = [
                parameters[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
                for p in operation.get("parameters", [])
            ]
            query = tuple(
                (p["name"], resolve(p.get("schema", {}), schemas))
                for p in params
                if p.get("in") == "query"
            )
            if_match = any(p.get("name") == "If-Match" and p.get("required") for p in params)
            found.append(
                Operation(
                    method=method.upper(),
                    template=path,
                    success=successes[0],
                    body=resolve(body["schema"], schemas) if body else None,
                    query=query,
                    if_match=if_match,
                    action=actions.get((method.upper(), path)),
                )
            )
    return found


def _actions(app) -> dict[tuple[str, str], Any]:
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        view = app.view_functions[rule.endpoint]
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            view_class = getattr(view, "view_class", None)
            function = getattr(view_class, method.lower()) if view_class else view
            found[(method, template)] = getattr(function, "required_action", None)
    return found


# --- values ---------------------------------------------------------------------------------------


class Values:
    """Fresh values for one owner: every text carries the owner's marker and a counter, so a
    response can be searched for another branch's data and names stay unique."""

    def __init__(self, marker: str, *, unusual: bool = False) -> None:
        self.marker = marker
        self._counter = itertools.count(1)
        # unusual but valid text between marker and counter (the long mode's)
        self._unusual = random.Random(marker) if unusual else None

    def next(self) -> int:
        return next(self._counter)

    def text(self, schema: Mapping[str, Any]) -> str:
        low, high = schema.get("minLength", 1), schema.get("maxLength", 60)
        n = str(self.next())
        middle = ""
        if self._unusual is not None:
            room = max(0, min(6, high - len(self.marker) - len(n)))
            middle = "".join(self._unusual.choice(UNUSUAL_TEXT) for _ in range(room))
        value = f"{self.marker}{middle}{n}"
        if len(value) > high:
            value = value[-high:]
        return value.ljust(low, "x")

    def phone(self) -> str:
        return f"139{self.next() + 10_000_000:08d}"

    def id_card_number(self) -> str:
        n = self.next()
        return id_card(date(1975, 1, 1) + timedelta(days=n), male=True, serial=n % 100)


# values the document cannot describe: custom validators and patterns (see the module's doc)
HINTS: dict[str, Callable[[Values], Any]] = {
    "phone": Values.phone,
    "id_card_number": Values.id_card_number,
    "slug": lambda v: f"f-{uuid.uuid4().hex[:12]}",
    "year": lambda v: 2090,  # a path parameter: a year no other test has figures for
}
# hinted fields are sent even when optional: the personal ones are what item 7 looks for
ALWAYS_SENT = frozenset({"phone", "id_card_number"})


def reference_stem(name: str, schema: Mapping[str, Any]) -> str | None:
    """`party_group_id` (format uuid) → `party_group`; None for anything else."""
    if name.endswith("_id") and schema.get("format") == "uuid":
        return name[: -len("_id")]
    return None


def writable(schema: Mapping[str, Any]) -> dict[str, dict]:
    return {
        name: prop
        for name, prop in schema.get("properties", {}).items()
        if not prop.get("readOnly")
    }


def is_plain_text(name: str, schema: Mapping[str, Any]) -> bool:
    """A free text field: a string with no enum, format or pattern, and no hint."""
    return (
        schema.get("type") == "string"
        and not {"enum", "format", "pattern"} & set(schema)
        and name not in HINTS
    )


def _scalar(schema: Mapping[str, Any], values: Values) -> Callable[[], Any]:
    """A factory of one valid value of a field without a hint or a reference."""
    if "enum" in schema:
        first = next(v for v in schema["enum"] if v is not None)
        return lambda: first
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "string":
        if fmt == "date":
            return lambda: PAST_DATE
        if fmt == "date-time":
            return lambda: PAST
        if fmt == "uuid":
            return lambda: str(uuid.uuid4())
        if fmt == "email":
            return lambda: f"f{values.next()}@example.org"
        return lambda: values.text(schema)
    if kind in ("integer", "number"):
        low = float(schema.get("minimum", 1))
        high = float(schema.get("maximum", max(low, 1) + 10))
        number = min(max(low, 1), high)
        return (lambda: int(number)) if kind == "integer" else (lambda: number)
    if kind == "boolean":
        return lambda: True
    if kind == "array":
        item = _scalar(schema.get("items", {}), values)
        return lambda: [item()]
    return lambda: None


# --- bodies ---------------------------------------------------------------------------------------


@dataclass
class Slot:
    """One field of an object body: its candidates (factories or OMIT) and the one chosen."""

    name: str
    schema: dict
    required: bool
    candidates: list[Any]
    chosen: int = 0  # index into candidates

    def value(self) -> Any:
        candidate = self.candidates[self.chosen]
        return candidate if candidate is OMIT else candidate()

    def advance(self) -> bool:
        if self.chosen + 1 >= len(self.candidates):
            return False
        self.chosen += 1
        return True


@dataclass
class Body:
    """A request body generated from a schema: `render()` a valid one (after `repair`s),
    `variants()` for the other enum values."""

    schema: Any
    slots: dict[str, Slot] = field(default_factory=dict)
    is_list: bool = False

    def render(self) -> Any:
        item = {}
        for slot in self.slots.values():
            value = slot.value()
            if value is not OMIT:
                item[slot.name] = value
        return [item] if self.is_list else item

    def repair(self, errors: Any) -> bool:
        """Change the fields a 422's `errors` names; False if there is nothing left to try."""
        names = _error_names(errors)
        changed = False
        for name in names:
            slot = self.slots.get(name)
            if slot is not None and slot.advance():
                changed = True
        return changed

    def references(self) -> dict[str, str]:
        """The reference fields: name → the stem of the collection they name."""
        return {
            name: stem
            for name, slot in self.slots.items()
            if (stem := reference_stem(name, slot.schema)) is not None
        }

    def render_with(self, overrides: Mapping[str, Any]) -> Any:
        """The rendered body with some fields set (in every item of a list body)."""
        rendered = self.render()
        for item in rendered if self.is_list else [rendered]:
            item.update(overrides)
        return rendered

    def variants(self, every: bool = True) -> Iterator[tuple[dict[str, Any], Any]]:
        """The rendered body with one enum field set to each of its other values (or, unless
        `every`, to one other value: the second, or the first where the second is in use)."""
        for slot in self.slots.values():
            enum = [v for v in slot.schema.get("enum") or [] if v is not None]
            if not enum:
                continue
            current = self.render()
            item = current[0] if self.is_list else current
            if not every and len(enum) > 1:
                enum = [enum[1] if item.get(slot.name, OMIT) != enum[1] else enum[0]]
            for value in enum:
                if item.get(slot.name, OMIT) == value:
                    continue
                variant = copy.deepcopy(current)
                (variant[0] if self.is_list else variant)[slot.name] = value
                yield {slot.name: value}, variant


def _error_names(errors: Any) -> set[str]:
    """Every key of an `errors` mapping, at any depth (list items are keyed by index)."""
    names: set[str] = set()
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            names.add(str(key))
            names |= _error_names(value)
    return names


def make_body(
    schema: Any,
    values: Values,
    references: Callable[[str], list[str]],
    *,
    partial: bool = False,
) -> Body | None:
    """A `Body` for `schema` (an object, or an array of objects). `references(stem)` gives the
    ids a `<stem>_id` field may take. None when a required reference has no candidate.

    The first rendering has the required fields, the hinted personal fields and, for a partial
    (PATCH) schema, one free text field to change; optional fields join when a 422 names them."""
    is_list = schema.get("type") == "array"
    item_schema = schema.get("items", {}) if is_list else schema
    required = set(item_schema.get("required", []))
    properties = writable(item_schema)
    first_text = next((n for n, p in properties.items() if is_plain_text(n, p)), None)
    body = Body(schema, is_list=is_list)
    for name, prop in properties.items():
        candidates: list[Any]
        stem = reference_stem(name, prop)
        if stem is not None:
            candidates = [(lambda i=i: i) for i in references(stem)]
            if not candidates and name in required:
                return None
        elif name in HINTS:
            candidates = [lambda n=name: HINTS[n](values)]
        elif "enum" in prop:
            candidates = [(lambda v=v: v) for v in prop["enum"] if v is not None]
        else:
            candidates = [_scalar(prop, values)]
        if prop.get("nullable"):
            candidates.append(lambda: None)
        sent = name in required or name in ALWAYS_SENT or (partial and name == first_text)
        if name not in required:
            # an optional field starts out of the body unless it is sent from the start
            candidates = [*candidates, OMIT] if sent else [OMIT, *candidates]
        body.slots[name] = Slot(name, prop, name in required, candidates)
    return body


def fill(template: str, slug: str | None, values: Mapping[str, str]) -> str:
    """The template with the branch's slug and the path parameters' values."""
    path = template.replace("{tenant_slug}", slug or "")
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    return path
