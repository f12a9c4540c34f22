"""The permission table, walked: every role × every `/api/v1` operation, with the expected
status derived from `PERMISSIONS` alone.

The operations come from the app itself (its URL map, checked against its OpenAPI document), so a
new endpoint cannot escape the walk: each one must have a request built for it below or be listed
as not walked with a reason, and must name its action with `@require` or be listed as open to any
authenticated caller. Each walker is a real caller: nobody (401), the two zone roles, A's admin
and member by their groups, A's admin and member by grants made in the app (a token with no
groups), A's two kinds of API token (made through the API by A's admin), and B's admin.

Expected, for a caller and an operation on branch A's or the zone's paths:
* anonymous: 401;
* a zone operation: its success status if the caller's zone roles allow the action, else 403;
* a branch operation: success if the caller's roles in A allow it, else 403 when it has a role
  in A, 403 for a zone role (zone roles see aggregates, not records), 404 for anybody else
  (another branch's admin: A's existence is not disclosed);
* and two special rules: a branch admin grants and revokes only `branch:member` (403 for admin).

Allowed calls carry valid bodies, so "allowed" means the 2xx the OpenAPI document promises; reads
of members also check that ID-card numbers are in clear exactly for `members:reveal`. Finally, the
README's table must be the code's table.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from service.auth.permissions import PERMISSIONS, ZONE_ACTIONS, Action, permission_table
from service.auth.roles import Role
from tests.api.helpers import tenant_body, worker
from tests.conftest import VALID_MEMBER, Caller

API = "/api/v1/"
README = Path(__file__).resolve().parents[2] / "README.md"

Operation = tuple[str, str]  # (method, OpenAPI path template)

# operations that name no action: open to any authenticated caller
OPEN_TO_ANY_CALLER: dict[Operation, str] = {
    ("GET", "/api/v1/me"): "who the caller is and which spaces it may enter; every caller may ask",
}
# operations deliberately not walked (none so far); each needs a reason
NOT_WALKED: dict[Operation, str] = {}


# --- the operations, from the app ----------------------------------------------------------------


def openapi_path(rule: str) -> str:
    """`/api/v1/t/<tenant_slug>/members/<uuid:member_id>` → `/api/v1/t/{tenant_slug}/...`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def url_map_operations(app) -> dict[Operation, Callable]:
    """Every `/api/v1` operation the app routes, with the function that serves it."""
    found: dict[Operation, Callable] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view_class = getattr(view, "view_class", None)
            function = getattr(view_class, method.lower()) if view_class else view
            found[(method, openapi_path(rule.rule))] = function
    return found


def openapi_operations(client) -> dict[Operation, int]:
    """Every `/api/v1` operation of the OpenAPI document, with its documented success status."""
    document = client.get("/api/openapi.json").json
    found = {}
    for path, item in document["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                success = [int(code) for code in operation["responses"] if code.startswith("2")]
                assert len(success) == 1, (method, path, operation["responses"])
                found[(method.upper(), path)] = success[0]
    return found


def required_action(function: Callable) -> Action | None:
    return getattr(function, "required_action", None)


def is_branch_path(path: str) -> bool:
    return path.startswith("/api/v1/t/{tenant_slug}/")


def test_url_map_and_openapi_document_list_the_same_api_operations(app, client):
    routed = set(url_map_operations(app))
    documented = set(openapi_operations(client))
    assert routed == documented, {
        "routed, not documented": sorted(routed - documented),
        "documented, not routed": sorted(documented - routed),
    }
    assert len(routed) >= 27


def test_every_api_operation_is_walked_or_exempt_with_a_reason(app):
    operations = set(url_map_operations(app))
    unaccounted = operations - set(REQUESTS) - set(NOT_WALKED)
    assert not unaccounted, (
        f"add a request for each new operation to REQUESTS (or to NOT_WALKED with a reason): "
        f"{sorted(unaccounted)}"
    )
    stale = (set(REQUESTS) | set(NOT_WALKED)) - operations
    assert not stale, f"these operations no longer exist: {sorted(stale)}"
    assert not set(REQUESTS) & set(NOT_WALKED)
    assert all(reason.strip() for reason in NOT_WALKED.values())


def test_every_api_operation_names_its_action_or_is_listed_as_open(app):
    for operation, function in url_map_operations(app).items():
        action = required_action(function)
        if operation in OPEN_TO_ANY_CALLER:
            assert action is None, f"{operation} requires {action}: drop it from the open list"
            assert OPEN_TO_ANY_CALLER[operation].strip()
        else:
            assert isinstance(action, Action), (
                f"{operation} names no action: decorate it with @require(Action...) "
                "or list it in OPEN_TO_ANY_CALLER with a reason"
            )
    assert set(OPEN_TO_ANY_CALLER) <= set(url_map_operations(app))


def test_branch_paths_require_branch_actions_and_zone_paths_zone_actions(app):
    for (method, path), function in url_map_operations(app).items():
        action = required_action(function)
        if action is None:
            continue
        if is_branch_path(path):
            assert action not in ZONE_ACTIONS, (method, path, action)
        else:
            assert path.startswith("/api/v1/zone/"), (method, path)
            assert action in ZONE_ACTIONS, (method, path, action)


def test_every_action_of_the_table_is_consulted(app):
    required = {required_action(f) for f in url_map_operations(app).values()} - {None}
    # members:reveal is consulted inside the member views (masking): the walk checks it there
    assert required | {Action.MEMBERS_REVEAL} == set(Action)
    assert set(PERMISSIONS) == set(Action)


# --- the world the walk runs in ------------------------------------------------------------------


class Nobody:
    """A client that sends no credentials at all."""

    def __init__(self, client) -> None:
        self.client = client

    def __getattr__(self, method: str):
        return getattr(self.client, method)


@dataclass(frozen=True)
class Walker:
    """A caller, and the roles the permission table should see for it."""

    name: str
    caller: object
    zone: frozenset[Role] = frozenset()
    in_a: frozenset[Role] = frozenset()
    anonymous: bool = False


@dataclass
class Call:
    path: str
    json: dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """Branches A (with a member, a party group, grants and tokens) and B; the callers."""

    make_account: Callable
    a: object
    b: object
    admin_a: Caller
    zone_admin: Caller
    member: dict
    group: dict
    walkers: list[Walker] = field(default_factory=list)

    def t(self, rest: str = "") -> str:
        return f"/api/v1/t/{self.a.slug}{rest}"

    def zone_grants(self, rest: str = "") -> str:
        return f"/api/v1/zone/tenants/{self.a.slug}/grants{rest}"

    def created(self, response) -> dict:
        assert response.status_code == 201, response.get_data(as_text=True)
        return {**response.json, "etag": response.headers.get("ETag")}

    def fresh_member(self) -> dict:
        return self.created(self.admin_a.post(self.t("/members"), json=worker("临时")))

    def fresh_group(self) -> dict:
        return self.created(
            self.admin_a.post(self.t("/party-groups"), json={"name": f"组 {uuid.uuid4().hex[:8]}"})
        )

    def fresh_user(self):
        return self.make_account()

    def fresh_grant(self, role: str = "branch:member") -> str:
        user = self.fresh_user()
        body = {"user_id": str(user.id), "role": role}
        return self.created(self.zone_admin.post(self.zone_grants(), json=body))["id"]

    def fresh_token(self) -> str:
        body = {"name": "临时集成", "scope": "read"}
        return self.created(self.admin_a.post(self.t("/api-tokens"), json=body))["id"]

    def tenant_etag(self) -> str:
        response = self.zone_admin.get(f"/api/v1/zone/tenants/{self.a.slug}")
        assert response.status_code == 200
        return response.headers["ETag"]


@pytest.fixture
def world(client, issuer, make_branch, make_account, as_groups) -> World:
    a, b = make_branch(), make_branch()
    admin_a = as_groups(f"pmsc:branch:{a.slug}:admin")
    zone_admin = as_groups("pmsc:zone:admin")

    member = admin_a.post(f"/api/v1/t/{a.slug}/members", json=VALID_MEMBER)
    group = admin_a.post(f"/api/v1/t/{a.slug}/party-groups", json={"name": "第一党小组"})
    secrets = {}
    for scope in ("read", "read-write"):
        made = admin_a.post(f"/api/v1/t/{a.slug}/api-tokens", json={"name": scope, "scope": scope})
        assert made.status_code == 201, made.json
        secrets[scope] = made.json["secret"]
    assert member.status_code == 201 and group.status_code == 201

    # two people whose tokens carry no groups, given A's roles in the app
    granted = {}
    for role in ("branch:admin", "branch:member"):
        subject = f"granted-{uuid.uuid4().hex[:8]}"
        user = make_account(issuer=issuer.url, subject=subject)
        body = {"user_id": str(user.id), "role": role}
        made = zone_admin.post(f"/api/v1/zone/tenants/{a.slug}/grants", json=body)
        assert made.status_code == 201, made.json
        granted[role] = as_groups(subject=subject)

    world = World(
        make_account=make_account,
        a=a,
        b=b,
        admin_a=admin_a,
        zone_admin=zone_admin,
        member={**member.json, "etag": member.headers["ETag"]},
        group={**group.json, "etag": group.headers["ETag"]},
    )
    world.walkers = [
        Walker("anonymous", Nobody(client), anonymous=True),
        Walker("zone:admin", zone_admin, zone=frozenset({Role.ZONE_ADMIN})),
        Walker("zone:viewer", as_groups("pmsc:zone:viewer"), zone=frozenset({Role.ZONE_VIEWER})),
        Walker("A admin", admin_a, in_a=frozenset({Role.BRANCH_ADMIN})),
        Walker(
            "A member",
            as_groups(f"pmsc:branch:{a.slug}:member"),
            in_a=frozenset({Role.BRANCH_MEMBER}),
        ),
        Walker("A admin (grant)", granted["branch:admin"], in_a=frozenset({Role.BRANCH_ADMIN})),
        Walker("A member (grant)", granted["branch:member"], in_a=frozenset({Role.BRANCH_MEMBER})),
        Walker("A token read", Caller(client, secrets["read"]), in_a=frozenset({Role.TOKEN_READ})),
        Walker(
            "A token rw",
            Caller(client, secrets["read-write"]),
            in_a=frozenset({Role.TOKEN_READ_WRITE}),
        ),
        Walker("B admin", as_groups(f"pmsc:branch:{b.slug}:admin")),
    ]
    return world


# --- one valid request per operation -------------------------------------------------------------


def _if_match(obj: dict) -> dict[str, str]:
    return {"If-Match": obj["etag"]}


def _patch_tenant(w: World) -> Call:
    return Call(
        f"/api/v1/zone/tenants/{w.a.slug}",
        {"name": f"改名党支部 {uuid.uuid4().hex[:4]}"},
        {"If-Match": w.tenant_etag()},
    )


def _patch_member(w: World) -> Call:
    fresh = w.fresh_member()
    return Call(w.t(f"/members/{fresh['id']}"), {"position": "宣传委员"}, _if_match(fresh))


def _delete_member(w: World) -> Call:
    fresh = w.fresh_member()
    return Call(w.t(f"/members/{fresh['id']}"), headers=_if_match(fresh))


def _patch_group(w: World) -> Call:
    fresh = w.fresh_group()
    return Call(w.t(f"/party-groups/{fresh['id']}"), {"notes": "每月活动"}, _if_match(fresh))


def _delete_group(w: World) -> Call:
    fresh = w.fresh_group()
    return Call(w.t(f"/party-groups/{fresh['id']}"), headers=_if_match(fresh))


PAST = "2025-03-01T09:00:00+08:00"
PAST_END = "2025-03-01T11:00:00+08:00"
ACTIVITY = {
    "kind": "training",
    "title": "党务知识培训",
    "starts_at": PAST,
    "ends_at": PAST_END,
    "study_hours": 2,
}


def _activity(w: World, status: str = "held") -> dict:
    return w.created(w.admin_a.post(w.t("/activities"), json={**ACTIVITY, "status": status}))


def _zone_activity(w: World) -> dict:
    return w.created(w.zone_admin.post("/api/v1/zone/activities", json=ACTIVITY))


def _registration(w: World, held: bool = False) -> tuple[dict, dict]:
    activity = _zone_activity(w)
    member = w.fresh_member()
    url = w.t(f"/zone-activities/{activity['id']}/registrations")
    registration = w.created(w.admin_a.post(url, json={"member_id": member["id"]}))
    if held:
        marked = w.zone_admin.patch(
            f"/api/v1/zone/activities/{activity['id']}",
            json={"status": "held"},
            headers=_if_match(activity),
        )
        assert marked.status_code == 200, marked.json
    return activity, registration


def _registration_call(w: World, held: bool, body: dict | None = None) -> Call:
    activity, registration = _registration(w, held)
    return Call(w.t(f"/zone-activities/{activity['id']}/registrations/{registration['id']}"), body)


def _attendance_one(w: World, record: bool) -> Call:
    activity = _activity(w)
    url = w.t(f"/activities/{activity['id']}/attendance/{w.member['id']}")
    if record:
        assert w.admin_a.put(url, json={"status": "present"}).status_code == 200
        return Call(url)
    return Call(url, {"status": "excused", "reason": "出差"})


def _patch_activity(w: World) -> Call:
    fresh = _activity(w, "planned")
    return Call(w.t(f"/activities/{fresh['id']}"), {"place": "会议室"}, _if_match(fresh))


def _patch_zone_activity(w: World) -> Call:
    fresh = _zone_activity(w)
    url = f"/api/v1/zone/activities/{fresh['id']}"
    return Call(url, {"place": "党群服务中心"}, _if_match(fresh))


def _grant_body(w: World, role: str = "branch:member", by: str = "username") -> dict:
    user = w.fresh_user()
    return {by: str(user.id) if by == "user_id" else user.username, "role": role}


def _put_ranking_weights(w: World) -> Call:
    # the weights the zone already has (the defaults): the walk changes no other test's ranking
    current = w.zone_admin.get("/api/v1/zone/ranking-weights")
    assert current.status_code == 200, current.json
    return Call("/api/v1/zone/ranking-weights", current.json, {"If-Match": current.headers["ETag"]})


REQUESTS: dict[Operation, Callable[[World], Call]] = {
    ("GET", "/api/v1/me"): lambda w: Call("/api/v1/me"),
    # zone
    ("GET", "/api/v1/zone/tenants"): lambda w: Call("/api/v1/zone/tenants"),
    ("POST", "/api/v1/zone/tenants"): lambda w: Call("/api/v1/zone/tenants", tenant_body()),
    ("GET", "/api/v1/zone/tenants/{slug}"): lambda w: Call(f"/api/v1/zone/tenants/{w.a.slug}"),
    ("PATCH", "/api/v1/zone/tenants/{slug}"): _patch_tenant,
    ("GET", "/api/v1/zone/tenants/{slug}/grants"): lambda w: Call(w.zone_grants()),
    ("POST", "/api/v1/zone/tenants/{slug}/grants"): lambda w: Call(
        w.zone_grants(), _grant_body(w, "branch:admin", by="user_id")
    ),
    ("DELETE", "/api/v1/zone/tenants/{slug}/grants/{grant_id}"): lambda w: Call(
        w.zone_grants(f"/{w.fresh_grant('branch:admin')}")
    ),
    ("GET", "/api/v1/zone/users"): lambda w: Call("/api/v1/zone/users?q=user-"),
    ("GET", "/api/v1/zone/audit"): lambda w: Call("/api/v1/zone/audit"),
    ("GET", "/api/v1/zone/activities"): lambda w: Call("/api/v1/zone/activities"),
    ("POST", "/api/v1/zone/activities"): lambda w: Call("/api/v1/zone/activities", ACTIVITY),
    ("GET", "/api/v1/zone/activities/{activity_id}"): lambda w: Call(
        f"/api/v1/zone/activities/{_zone_activity(w)['id']}"
    ),
    ("PATCH", "/api/v1/zone/activities/{activity_id}"): _patch_zone_activity,
    ("GET", "/api/v1/zone/activities/{activity_id}/registrations"): lambda w: Call(
        f"/api/v1/zone/activities/{_registration(w)[0]['id']}/registrations"
    ),
    ("GET", "/api/v1/zone/training-targets"): lambda w: Call(
        "/api/v1/zone/training-targets?year=2090"
    ),
    ("PUT", "/api/v1/zone/training-targets/{year}"): lambda w: Call(
        "/api/v1/zone/training-targets/2090", [{"category": "party-member", "hours": 40}]
    ),
    ("GET", "/api/v1/zone/rankings"): lambda w: Call("/api/v1/zone/rankings?period=2090"),
    ("GET", "/api/v1/zone/ranking-weights"): lambda w: Call("/api/v1/zone/ranking-weights"),
    ("PUT", "/api/v1/zone/ranking-weights"): _put_ranking_weights,
    ("GET", "/api/v1/zone/meeting-schedule"): lambda w: Call("/api/v1/zone/meeting-schedule"),
    ("PUT", "/api/v1/zone/meeting-schedule"): lambda w: Call(
        "/api/v1/zone/meeting-schedule",
        [{"kind": "committee-meeting", "frequency": "monthly", "times": 1}],
    ),
    # branch A
    ("GET", "/api/v1/t/{tenant_slug}/members"): lambda w: Call(w.t("/members?page_size=100")),
    ("POST", "/api/v1/t/{tenant_slug}/members"): lambda w: Call(w.t("/members"), worker("新人")),
    ("GET", "/api/v1/t/{tenant_slug}/members/{member_id}"): lambda w: Call(
        w.t(f"/members/{w.member['id']}")
    ),
    ("PATCH", "/api/v1/t/{tenant_slug}/members/{member_id}"): _patch_member,
    ("DELETE", "/api/v1/t/{tenant_slug}/members/{member_id}"): _delete_member,
    ("GET", "/api/v1/t/{tenant_slug}/party-groups"): lambda w: Call(w.t("/party-groups")),
    ("POST", "/api/v1/t/{tenant_slug}/party-groups"): lambda w: Call(
        w.t("/party-groups"), {"name": f"新组 {uuid.uuid4().hex[:8]}"}
    ),
    ("GET", "/api/v1/t/{tenant_slug}/party-groups/{group_id}"): lambda w: Call(
        w.t(f"/party-groups/{w.group['id']}")
    ),
    ("PATCH", "/api/v1/t/{tenant_slug}/party-groups/{group_id}"): _patch_group,
    ("DELETE", "/api/v1/t/{tenant_slug}/party-groups/{group_id}"): _delete_group,
    ("GET", "/api/v1/t/{tenant_slug}/audit"): lambda w: Call(w.t("/audit")),
    ("GET", "/api/v1/t/{tenant_slug}/activities"): lambda w: Call(w.t("/activities")),
    ("POST", "/api/v1/t/{tenant_slug}/activities"): lambda w: Call(w.t("/activities"), ACTIVITY),
    ("GET", "/api/v1/t/{tenant_slug}/activities/{activity_id}"): lambda w: Call(
        w.t(f"/activities/{_activity(w)['id']}")
    ),
    ("PATCH", "/api/v1/t/{tenant_slug}/activities/{activity_id}"): _patch_activity,
    ("DELETE", "/api/v1/t/{tenant_slug}/activities/{activity_id}"): lambda w: Call(
        w.t(f"/activities/{(a := _activity(w))['id']}"), headers=_if_match(a)
    ),
    ("GET", "/api/v1/t/{tenant_slug}/activities/{activity_id}/attendance"): lambda w: Call(
        w.t(f"/activities/{_activity(w)['id']}/attendance")
    ),
    ("PUT", "/api/v1/t/{tenant_slug}/activities/{activity_id}/attendance"): lambda w: Call(
        w.t(f"/activities/{_activity(w)['id']}/attendance"),
        [{"member_id": w.member["id"], "status": "present"}],
    ),
    (
        "PUT",
        "/api/v1/t/{tenant_slug}/activities/{activity_id}/attendance/{member_id}",
    ): lambda w: _attendance_one(w, record=False),
    (
        "DELETE",
        "/api/v1/t/{tenant_slug}/activities/{activity_id}/attendance/{member_id}",
    ): lambda w: _attendance_one(w, record=True),
    ("GET", "/api/v1/t/{tenant_slug}/training/summary"): lambda w: Call(
        w.t("/training/summary?year=2025")
    ),
    ("GET", "/api/v1/t/{tenant_slug}/zone-activities"): lambda w: Call(w.t("/zone-activities")),
    ("GET", "/api/v1/t/{tenant_slug}/zone-activities/{activity_id}/registrations"): lambda w: Call(
        w.t(f"/zone-activities/{_zone_activity(w)['id']}/registrations")
    ),
    ("POST", "/api/v1/t/{tenant_slug}/zone-activities/{activity_id}/registrations"): lambda w: Call(
        w.t(f"/zone-activities/{_zone_activity(w)['id']}/registrations"),
        {"member_id": w.fresh_member()["id"]},
    ),
    (
        "PUT",
        "/api/v1/t/{tenant_slug}/zone-activities/{activity_id}/registrations/{registration_id}",
    ): lambda w: _registration_call(w, held=True, body={"attendance": "present"}),
    (
        "DELETE",
        "/api/v1/t/{tenant_slug}/zone-activities/{activity_id}/registrations/{registration_id}",
    ): lambda w: _registration_call(w, held=False),
    ("GET", "/api/v1/t/{tenant_slug}/grants"): lambda w: Call(w.t("/grants")),
    ("POST", "/api/v1/t/{tenant_slug}/grants"): lambda w: Call(w.t("/grants"), _grant_body(w)),
    ("DELETE", "/api/v1/t/{tenant_slug}/grants/{grant_id}"): lambda w: Call(
        w.t(f"/grants/{w.fresh_grant()}")
    ),
    ("GET", "/api/v1/t/{tenant_slug}/api-tokens"): lambda w: Call(w.t("/api-tokens")),
    ("POST", "/api/v1/t/{tenant_slug}/api-tokens"): lambda w: Call(
        w.t("/api-tokens"), {"name": "人事系统", "scope": "read", "expires_in_days": 30}
    ),
    ("DELETE", "/api/v1/t/{tenant_slug}/api-tokens/{token_id}"): lambda w: Call(
        w.t(f"/api-tokens/{w.fresh_token()}")
    ),
    ("GET", "/api/v1/t/{tenant_slug}/standing"): lambda w: Call(w.t("/standing?period=2090")),
}


@dataclass(frozen=True)
class Special:
    """A rule on top of the table: where the table allows, this request is still refused."""

    label: str
    operation: Operation
    build: Callable[[World], Call]
    refused_with: int


SPECIALS = [
    Special(
        "POST /t/{a}/grants role=branch:admin",
        ("POST", "/api/v1/t/{tenant_slug}/grants"),
        lambda w: Call(w.t("/grants"), _grant_body(w, "branch:admin")),
        403,
    ),
    Special(
        "DELETE /t/{a}/grants/{admin grant}",
        ("DELETE", "/api/v1/t/{tenant_slug}/grants/{grant_id}"),
        lambda w: Call(w.t(f"/grants/{w.fresh_grant('branch:admin')}")),
        403,
    ),
]

MEMBER_READS = {
    ("GET", "/api/v1/t/{tenant_slug}/members"),
    ("GET", "/api/v1/t/{tenant_slug}/members/{member_id}"),
}


# --- the walk ------------------------------------------------------------------------------------


def expected_status(walker: Walker, action: Action | None, success: int) -> int:
    """What the permission table says `walker` gets for an operation of `action`."""
    if walker.anonymous:
        return 401
    if action is None:
        return success
    if action in ZONE_ACTIONS:
        return success if walker.zone & PERMISSIONS[action] else 403
    if not walker.in_a:
        return 403 if walker.zone else 404  # zone roles: aggregates only; others: not disclosed
    return success if walker.in_a & PERMISSIONS[action] else 403


def _reveal_of(response, operation: Operation) -> str:
    """For member reads: whether ID-card numbers came in clear or masked."""
    body = response.json
    items = body if isinstance(body, list) else [body]
    cards = {m["id_card_number"] for m in items if m.get("id_card_number")}
    assert cards, f"{operation}: no member with an ID-card number to check masking on"
    masked = {"*" in card for card in cards}
    return "mixed" if len(masked) > 1 else ("masked" if masked.pop() else "clear")


def _send(walker: Walker, method: str, call: Call):
    kwargs = {"headers": call.headers} if call.headers else {}
    if call.json is not None:
        kwargs["json"] = call.json
    return getattr(walker.caller, method.lower())(call.path, **kwargs)


def _format_matrix(walkers: list[Walker], rows: list[tuple[str, list[str]]]) -> str:
    names = [w.name for w in walkers]
    first = max(len(label) for label, _ in rows)
    widths = [max(len(n), *(len(cells[i]) for _, cells in rows)) for i, n in enumerate(names)]
    lines = [" | ".join([" " * first, *(n.ljust(w) for n, w in zip(names, widths, strict=True))])]
    for label, cells in rows:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        lines.append(" | ".join([label.ljust(first), *padded]))
    return "\n".join(lines)


def test_every_role_gets_what_the_permission_table_says_on_every_endpoint(app, client, world):
    functions = url_map_operations(app)
    successes = openapi_operations(client)
    cases = [
        (f"{method} {path}", (method, path), REQUESTS.get((method, path)), None)
        for method, path in sorted(functions, key=lambda op: (op[1], op[0]))
        if (method, path) not in NOT_WALKED
    ]
    cases += [(s.label, s.operation, s.build, s.refused_with) for s in SPECIALS]

    rows: list[tuple[str, list[str]]] = []
    mismatches: list[str] = []
    cells = 0
    for label, operation, build, refused_with in cases:
        method = operation[0]
        action = required_action(functions[operation])
        row = []
        for walker in world.walkers:
            if build is None:
                row.append("NO REQUEST")
                mismatches.append(f"{label}: no request is built for it (add it to REQUESTS)")
                continue
            expected = expected_status(walker, action, successes[operation])
            if refused_with is not None and 200 <= expected < 300:
                expected = refused_with
            response = _send(walker, method, build(world))
            got = str(response.status_code)
            want = str(expected)
            if operation in MEMBER_READS and expected == 200 and response.status_code == 200:
                reveal = walker.in_a & PERMISSIONS[Action.MEMBERS_REVEAL]
                want += " clear" if reveal else " masked"
                got += f" {_reveal_of(response, operation)}"
            if response.status_code == 401:
                assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
            cells += 1
            if got == want:
                row.append(got)
            else:
                row.append(f"{got}≠{want}")
                detail = (response.get_json(silent=True) or {}).get("message")
                mismatches.append(f"{walker.name} × {label}: got {got}, want {want} ({detail})")
        rows.append((label, row))

    assert not mismatches, (
        "the permission walk disagrees with PERMISSIONS (cells read got≠want):\n"
        + _format_matrix(world.walkers, rows)
        + "\n\n"
        + "\n".join(mismatches)
    )
    assert cells == len(world.walkers) * len(cases)
    print(f"\n{len(world.walkers)} roles × {len(cases)} operations:")  # shown with -s
    print(_format_matrix(world.walkers, rows))


# --- the README's table --------------------------------------------------------------------------


def readme_permission_table(text: str) -> tuple[list[str], dict[str, set[str]]]:
    """The README's role × action table: its role columns (as role names) and, per action,
    the roles with a ✓. Header cells name roles as `zone admin` or `zone:admin`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^\|\s*action\s*\|", line)), None)
    assert start is not None, "README.md has no table whose first column is 'action'"
    header = [c.strip().strip("`").strip() for c in lines[start].strip().strip("|").split("|")]
    roles = [re.sub(r"\s+", ":", name.strip(), count=1) for name in header[1:]]
    table: dict[str, set[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        named = re.search(r"`([^`]+)`", cells[0])
        assert named, f"README row names no action in backticks: {line}"
        marks = cells[1:] + [""] * (len(roles) - len(cells[1:]))
        table[named.group(1)] = {r for r, mark in zip(roles, marks, strict=True) if mark == "✓"}
    return roles, table


def test_readme_permission_table_is_the_table_in_code():
    roles, table = readme_permission_table(README.read_text(encoding="utf-8"))
    in_code = {action: set(allowed) for action, allowed in permission_table()}
    every_role = sorted({r.value for allowed in PERMISSIONS.values() for r in allowed})
    assert sorted(roles) == every_role, f"README role columns {roles}, the table's {every_role}"
    assert list(table) == [action for action, _ in permission_table()], (
        "README actions (in order) differ from service/auth/permissions.py"
    )
    assert table == in_code
