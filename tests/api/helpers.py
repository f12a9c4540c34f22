"""Small helpers shared by the API tests: counting through the list endpoints, the one error
shape, and valid request bodies."""

from __future__ import annotations

import json
import uuid
from datetime import date

ERROR_KEYS = {"code", "status", "message"}


def total(caller, path: str, **query) -> int:
    """How many items the list at `path` holds, from its `X-Pagination` header."""
    response = caller.get(path, query_string={"page_size": 1, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])["total"]


def assert_error(response, status: int, field: str | None = None, location: str = "json") -> dict:
    """`response` is an error of `status` in the one JSON shape; with `field`, both the message
    and the `errors` member name it. Returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}, body
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"].strip()
    if field is not None:
        assert field in body["message"], body
        assert field in body["errors"][location], body
    return body


def tenant_body(**overrides) -> dict:
    """A valid `POST /api/v1/zone/tenants` body with a fresh slug."""
    body = {
        "slug": f"t-{uuid.uuid4().hex[:12]}",
        "name": "星河科技党支部",
        "enterprise_name": "苏州星河科技有限公司",
        "enterprise_type": "private",
        "industry": "软件和信息技术服务",
        "employee_count": 120,
        "organization_type": "branch",
    }
    body.update(overrides)
    return body


def worker(name: str, **fields) -> dict:
    """A valid member body for someone who is not a party member."""
    return {"name": name, "gender": "female", "category": "worker", **fields}


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_card(birth: date, *, male: bool, region: str = "320505", serial: int = 12) -> str:
    """A valid 18-character ID-card number (computed here, not by the code under test)."""
    sequence = f"{serial:02d}{1 if male else 2}"
    body = f"{region}{birth:%Y%m%d}{sequence}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check
