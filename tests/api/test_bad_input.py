"""Bad input to every write operation of the API: malformed or oddly shaped JSON, wrong content
types, oversized and deeply nested bodies, over-long strings, control characters, invalid UTF-8,
wrong types and impossible dates. Each is a 4xx in the one error shape, naming the field where
there is one, never a 500, and writes nothing. Metacharacters are data, stored as sent.

"Writes nothing" is checked in the database itself: the row count and the sum of the version
columns of every table, audit logs included, are the same before and after. Because a refused
write changes nothing, the targets (a branch with a member and a party group, a tenant) are made
once per backend and shared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.api.helpers import assert_error, tenant_body
from tests.conftest import VALID_MEMBER, Caller

TENANTS = "/api/v1/zone/tenants"
JSON = {"Content-Type": "application/json"}

STATE = text(
    """
    SELECT
      (SELECT count(*) FROM tenants), (SELECT coalesce(sum(version), 0) FROM tenants),
      (SELECT count(*) FROM members), (SELECT coalesce(sum(version), 0) FROM members),
      (SELECT count(*) FROM party_groups), (SELECT coalesce(sum(version), 0) FROM party_groups),
      (SELECT count(*) FROM tenant_audit_events), (SELECT count(*) FROM zone_audit_events)
    """
)


@dataclass
class Write:
    """One write operation of the API, ready to be sent."""

    name: str
    method: str
    url: str
    caller: Caller
    headers: dict
    valid: Callable[[], dict]  # a body the operation accepts
    location: Callable[[Any], str]  # where the written object is read back

    def send(self, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return getattr(self.caller, self.method)(self.url, headers=headers, **kwargs)

    def send_json(self, body: Any, **kwargs):
        """`body` serialized exactly as given (lone surrogates escaped, as JSON allows)."""
        return self.send(data=json.dumps(body), headers=JSON, **kwargs)


OPERATIONS = [
    "post-member",
    "patch-member",
    "post-group",
    "patch-group",
    "post-tenant",
    "patch-tenant",
]
OPERATIONS_OF = {
    "tenant": ["post-tenant", "patch-tenant"],
    "member": ["post-member", "patch-member"],
    "group": ["post-group", "patch-group"],
}


def _created(response):
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


@pytest.fixture(scope="module")
def writes(app, issuer) -> dict[str, Write]:
    """The six write operations against targets made once per backend."""
    client = app.test_client()
    zone_admin = Caller(client, issuer.token(["pmsc:zone:admin"], lifetime=3600))
    tenant = _created(zone_admin.post(TENANTS, json=tenant_body()))
    slug = tenant.json["slug"]
    admin = Caller(client, issuer.token([f"pmsc:branch:{slug}:admin"], lifetime=3600))
    members, groups = f"/api/v1/t/{slug}/members", f"/api/v1/t/{slug}/party-groups"
    member = _created(admin.post(members, json=VALID_MEMBER))
    group = _created(admin.post(groups, json={"name": "第一党小组"}))
    member_url, group_url = f"{members}/{member.json['id']}", f"{groups}/{group.json['id']}"
    tenant_url = f"{TENANTS}/{slug}"

    def at(url):
        return lambda _response: url

    def created_at(collection, key="id"):
        return lambda response: f"{collection}/{response.json[key]}"

    return {
        w.name: w
        for w in [
            Write("post-member", "post", members, admin, {}, lambda: dict(VALID_MEMBER),
                  created_at(members)),
            Write("patch-member", "patch", member_url, admin, {"If-Match": member.headers["ETag"]},
                  lambda: {"name": "新名"}, at(member_url)),
            Write("post-group", "post", groups, admin, {}, lambda: {"name": "二组"},
                  created_at(groups)),
            Write("patch-group", "patch", group_url, admin, {"If-Match": group.headers["ETag"]},
                  lambda: {"name": "新名"}, at(group_url)),
            Write("post-tenant", "post", TENANTS, zone_admin, {}, tenant_body,
                  created_at(TENANTS, "slug")),
            Write("patch-tenant", "patch", tenant_url, zone_admin,
                  {"If-Match": tenant.headers["ETag"]}, lambda: {"name": "新名称"}, at(tenant_url)),
        ]
    }  # fmt: skip


@pytest.fixture(scope="module")
def database_state(app_env) -> Iterator[Callable[[], tuple]]:
    """Row counts and version sums of every table, read as the owner (past row-level security)."""
    engine = create_engine(app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"])

    def state() -> tuple:
        with engine.connect() as connection:
            return tuple(connection.execute(STATE).one())

    yield state
    engine.dispose()


@pytest.fixture(params=OPERATIONS)
def write(request, writes) -> Write:
    return writes[request.param]


@pytest.fixture
def refused(database_state):
    """`refused(send, status, field)`: send; the answer is `status` in the error shape naming
    `field`, and the database is exactly as before."""

    def check(send: Callable[[], Any], status: int | tuple[int, ...], field: str | None = None):
        before = database_state()
        response = send()
        statuses = status if isinstance(status, tuple) else (status,)
        assert response.status_code in statuses, response.get_data(as_text=True)
        body = assert_error(response, response.status_code, field)
        assert database_state() == before
        return body

    return check


# the body is not a JSON object


@pytest.mark.parametrize("raw", ['{"name": ', "{'name': 'x'}", '{"name": "x"} trailing'])
def test_malformed_json_is_400(write, refused, raw):
    body = refused(lambda: write.send(data=raw, headers=JSON), 400)
    assert "JSON" in body["message"]


@pytest.mark.parametrize("shape", ["list", "string", "null"])
def test_json_that_is_not_an_object_is_a_4xx(write, refused, shape):
    payload = {"list": [write.valid()], "string": "name", "number": 42, "null": None}[shape]
    refused(lambda: write.send_json(payload), (400, 422))


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", None])
def test_a_body_not_declared_as_json_is_415(write, refused, content_type):
    payload = json.dumps(write.valid())
    headers = {"Content-Type": content_type} if content_type else {}
    body = refused(lambda: write.send(data=payload, headers=headers), 415)
    assert "application/json" in body["message"]


def test_a_form_post_is_415(write, refused):
    refused(lambda: write.send(data={"name": "表单"}), 415)


def test_a_body_over_the_limit_is_413(write, refused, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024  # PMSC_MAX_BODY_BYTES' default
    payload = json.dumps({**write.valid(), "name": "x" * limit})
    refused(lambda: write.send(data=payload, headers=JSON), 413)


@pytest.mark.parametrize(
    "payload",
    ["[" * 100_000 + "]" * 100_000, '{"name": ' * 50_000 + "1" + "}" * 50_000],
    ids=["arrays", "objects"],
)
def test_json_nested_too_deeply_to_parse_is_400(write, refused, payload):
    body = refused(lambda: write.send(data=payload, headers=JSON), 400)
    assert "nested" in body["message"]


def test_a_nested_value_where_text_is_expected_is_422_naming_the_field(write, refused):
    nested: Any = "x"
    for _ in range(500):
        nested = [nested]
    refused(lambda: write.send_json({**write.valid(), "name": nested}), 422, "name")


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "\xff\xfe"}', b'{"name": "\xe5\xbc"}'],
    ids=["ff-fe", "truncated"],
)
def test_invalid_utf8_is_a_4xx(write, refused, raw):
    refused(lambda: write.send(data=raw, headers=JSON), (400, 422))


# the object's fields


def test_a_10000_character_string_is_422_naming_the_field(write, refused):
    refused(lambda: write.send_json({**write.valid(), "name": "长" * 10_000}), 422, "name")


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "a\x1bb", "a\x85b", "a\ud800b"],
    ids=["nul", "escape", "c1-nel", "lone-surrogate"],
)
def test_control_characters_and_lone_surrogates_are_422_naming_the_field(write, refused, text):
    refused(lambda: write.send_json({**write.valid(), "name": text}), 422, "name")


def test_an_unknown_field_is_422_naming_it(write, refused):
    refused(lambda: write.send_json({**write.valid(), "colour": "红"}), 422, "colour")


@pytest.mark.parametrize("value", [42, ["张伟"], {"zh": "张伟"}], ids=["number", "list", "object"])
def test_a_name_that_is_not_a_string_is_422_naming_it(write, refused, value):
    refused(lambda: write.send_json({**write.valid(), "name": value}), 422, "name")


TYPED_FIELDS = [
    ("tenant", "employee_count", "120"),
    ("tenant", "employee_count", 1.5),
    ("tenant", "employee_count", True),
    ("tenant", "employee_count", 10**40),
    ("tenant", "enterprise_type", {"value": "private"}),
    ("member", "gender", {"value": "male"}),
    ("member", "category", 1),
    ("member", "birth_date", 19850312),
    ("member", "party_group_id", "not-a-uuid"),
    ("member", "phone", 13812345678),
    ("member", "id_card_number", 320505198503121235),
    ("group", "notes", ["x"]),
]
TYPED_CASES = [(op, f, v) for kind, f, v in TYPED_FIELDS for op in OPERATIONS_OF[kind]]


@pytest.mark.parametrize(
    ("write", "field", "value"),
    TYPED_CASES,
    ids=[f"{op}-{f}-{v!r}"[:48] for op, f, v in TYPED_CASES],
    indirect=["write"],
)
def test_a_value_of_the_wrong_type_is_422_naming_the_field(write, refused, field, value):
    refused(lambda: write.send_json({**write.valid(), field: value}), 422, field)


DATES = [
    ("birth_date", "0001-01-01"),
    ("birth_date", "9999-12-31"),
    ("birth_date", "2020-02-30"),
    ("birth_date", ""),
    ("joined_party_date", "1985-13-01"),
    ("full_membership_date", "9999-01-01"),
]


@pytest.mark.parametrize("write", OPERATIONS_OF["member"], indirect=True)
@pytest.mark.parametrize(("field", "value"), DATES)
def test_a_date_out_of_range_or_impossible_is_422_naming_the_field(write, refused, field, value):
    refused(lambda: write.send_json({**write.valid(), field: value}), 422, field)


# metacharacters are data

METACHARACTERS = {
    "sql-like": "O'Brien\"; DROP TABLE members;-- 100%_\\",
    "html-templates": "<script>alert(1)</script>&amp; {{7*7}} ${x} %s",
    "tab-newline": "张\t伟\n(tab, newline)",
}


@pytest.mark.parametrize("name", METACHARACTERS.values(), ids=METACHARACTERS.keys())
def test_sql_and_html_metacharacters_are_stored_literally(write, name):
    name = f"{OPERATIONS.index(write.name)}{name}"  # group names are unique in the branch
    response = write.send_json({**write.valid(), "name": name})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    if write.method == "patch":  # the shared target moved on: keep its ETag current
        write.headers["If-Match"] = response.headers["ETag"]
    assert response.json["name"] == name
    read = write.caller.get(write.location(response))
    assert read.status_code == 200
    assert read.json["name"] == name
