"""What the fuzzers found, kept as plain regression tests (the fuzzers find them again too).

1. A list endpoint (`PUT .../attendance`, `PUT /api/v1/zone/training-targets/<year>`,
   `PUT /api/v1/zone/meeting-schedule`) sent a JSON body that is not a list (`42`, `null`,
   `true`) answered 500: `InputSchema`'s pre-load hook let marshmallow iterate the body as a
   list before its type was checked (TypeError). Fixed in `service/schema_base.py`.
2. On PostgreSQL, a branch slug with a NUL byte in the URL (`/api/v1/t/a%00b/members`,
   `/api/v1/zone/tenants/a%00b`) answered 500: the slug went to the database, which refuses NUL
   in text. A slug no branch can have is now 404 without a query (`service/spaces.py`,
   `tenants/provisioning.py`).
"""

from __future__ import annotations

import marshmallow as ma
import pytest

from service.schema_base import InputSchema
from tests.api.helpers import assert_error


class Item(InputSchema):
    name = ma.fields.String(required=True)


@pytest.mark.parametrize("body", [42, None, True, 1.5])
def test_a_many_schema_refuses_a_body_that_is_not_a_list(body):
    with pytest.raises(ma.ValidationError) as refused:
        Item(many=True).load(body)
    assert refused.value.messages == {"_schema": ["Invalid input type."]}


def test_a_many_schema_still_cleans_and_checks_each_item():
    assert Item(many=True).load([{"name": "  张伟 "}]) == [{"name": "张伟"}]
    with pytest.raises(ma.ValidationError) as refused:
        Item(many=True).load([{"name": "ok"}, {"name": "a\x00b"}])
    assert refused.value.messages == {1: {"name": ["Must not contain control characters."]}}


@pytest.mark.parametrize("raw", ["42", "null", "true", '"text"'])
def test_a_list_endpoint_sent_a_scalar_is_422_not_500(zone_admin, raw):
    sent = zone_admin.put(
        "/api/v1/zone/training-targets/2090",
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    body = assert_error(sent, 422)
    assert body["errors"] == {"json": {"_schema": ["Invalid input type."]}}, body


@pytest.mark.parametrize("slug", ["a%00b", "%00", "a%00" + "b" * 5])
def test_a_branch_slug_with_a_nul_byte_is_404_in_the_branch_space(as_groups, slug):
    caller = as_groups(f"pmsc:branch:{slug}:admin")
    assert_error(caller.get(f"/api/v1/t/{slug}/members"), 404)


@pytest.mark.parametrize(
    "path", ["/api/v1/zone/tenants/a%00b", "/api/v1/zone/tenants/a%00b/grants"]
)
def test_a_branch_slug_with_a_nul_byte_is_404_in_the_zone_space(zone_admin, path):
    assert_error(zone_admin.get(path), 404)


def test_a_valid_slug_of_no_branch_is_still_404(zone_admin, as_groups):
    assert_error(zone_admin.get("/api/v1/zone/tenants/no-such-branch"), 404)
    caller = as_groups("pmsc:branch:no-such-branch:admin")
    assert_error(caller.get("/api/v1/t/no-such-branch/members"), 404)
