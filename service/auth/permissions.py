"""The permission table: which role may take which action. The API consults only this."""

from __future__ import annotations

import enum

from service.auth.roles import Principal, Role


class Action(enum.StrEnum):
    # zone level
    TENANTS_READ = "tenants:read"
    TENANTS_WRITE = "tenants:write"
    ZONE_AUDIT_READ = "zone-audit:read"
    # branch level
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_REVEAL = "members:reveal"  # ID-card numbers and phones in clear
    PARTY_GROUPS_READ = "party-groups:read"
    PARTY_GROUPS_WRITE = "party-groups:write"
    AUDIT_READ = "audit:read"


ZONE_ACTIONS = frozenset({Action.TENANTS_READ, Action.TENANTS_WRITE, Action.ZONE_AUDIT_READ})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.TENANTS_READ: frozenset({Role.ZONE_ADMIN, Role.ZONE_VIEWER}),
    Action.TENANTS_WRITE: frozenset({Role.ZONE_ADMIN}),
    Action.ZONE_AUDIT_READ: frozenset({Role.ZONE_ADMIN}),
    Action.MEMBERS_READ: frozenset({Role.BRANCH_ADMIN, Role.BRANCH_MEMBER}),
    Action.MEMBERS_WRITE: frozenset({Role.BRANCH_ADMIN}),
    Action.MEMBERS_REVEAL: frozenset({Role.BRANCH_ADMIN}),
    Action.PARTY_GROUPS_READ: frozenset({Role.BRANCH_ADMIN, Role.BRANCH_MEMBER}),
    Action.PARTY_GROUPS_WRITE: frozenset({Role.BRANCH_ADMIN}),
    Action.AUDIT_READ: frozenset({Role.BRANCH_ADMIN}),
}


def is_allowed(principal: Principal, action: Action, slug: str | None = None) -> bool:
    """Whether `principal` may take `action` (in branch `slug`, for branch actions)."""
    allowed = PERMISSIONS[action]
    if action in ZONE_ACTIONS:
        return bool(principal.zone_roles & allowed)
    return slug is not None and bool(principal.roles_in(slug) & allowed)


def permission_table() -> list[tuple[str, list[str]]]:
    """The table as rows of (action, roles allowed), for documentation."""
    return [(a.value, sorted(r.value for r in PERMISSIONS[a])) for a in Action]
