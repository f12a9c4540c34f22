"""The permission table: which role may take which action. The API consults only this."""

from __future__ import annotations

import enum

from service.auth.roles import Principal, Role


class Action(enum.StrEnum):
    # zone level
    TENANTS_READ = "tenants:read"
    TENANTS_WRITE = "tenants:write"
    ZONE_AUDIT_READ = "zone-audit:read"
    USERS_READ = "users:read"  # accounts that have signed in, to grant them roles
    ZONE_GRANTS_READ = "zone-grants:read"
    ZONE_GRANTS_WRITE = "zone-grants:write"  # any branch role, in any branch
    TRAINING_TARGETS_READ = "training-targets:read"
    TRAINING_TARGETS_WRITE = "training-targets:write"
    MEETING_SCHEDULE_READ = "meeting-schedule:read"  # the required meetings rollups count
    MEETING_SCHEDULE_WRITE = "meeting-schedule:write"
    ZONE_ACTIVITIES_READ = "zone-activities:read"  # and each branch's registration counts
    ZONE_ACTIVITIES_WRITE = "zone-activities:write"
    RANKINGS_READ = "rankings:read"  # the ranking of branches, and the weights it uses
    RANKING_WEIGHTS_WRITE = "ranking-weights:write"
    # branch level
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_REVEAL = "members:reveal"  # ID-card numbers and phones in clear
    PARTY_GROUPS_READ = "party-groups:read"
    PARTY_GROUPS_WRITE = "party-groups:write"
    AUDIT_READ = "audit:read"
    GRANTS_READ = "grants:read"
    GRANTS_WRITE = "grants:write"  # the `branch:member` role only, in one's own branch
    API_TOKENS_READ = "api-tokens:read"
    API_TOKENS_WRITE = "api-tokens:write"
    ACTIVITIES_READ = "activities:read"  # and their attendance
    ACTIVITIES_WRITE = "activities:write"
    ATTENDANCE_WRITE = "attendance:write"
    TRAINING_READ = "training:read"  # the branch's training-hours summary
    REGISTRATIONS_READ = "registrations:read"  # open zone activities, the branch's registrations
    REGISTRATIONS_WRITE = "registrations:write"  # and their attendance
    STANDING_READ = "standing:read"  # the branch's own rank and the zone's medians


ZONE_ACTIONS = frozenset(
    {
        Action.TENANTS_READ,
        Action.TENANTS_WRITE,
        Action.ZONE_AUDIT_READ,
        Action.USERS_READ,
        Action.ZONE_GRANTS_READ,
        Action.ZONE_GRANTS_WRITE,
        Action.TRAINING_TARGETS_READ,
        Action.TRAINING_TARGETS_WRITE,
        Action.MEETING_SCHEDULE_READ,
        Action.MEETING_SCHEDULE_WRITE,
        Action.ZONE_ACTIVITIES_READ,
        Action.ZONE_ACTIVITIES_WRITE,
        Action.RANKINGS_READ,
        Action.RANKING_WEIGHTS_WRITE,
    }
)

_ZONE_STAFF = frozenset({Role.ZONE_ADMIN, Role.ZONE_VIEWER})
_ADMIN = frozenset({Role.ZONE_ADMIN})
_BRANCH_ADMIN = frozenset({Role.BRANCH_ADMIN})
_READERS = frozenset(
    {Role.BRANCH_ADMIN, Role.BRANCH_MEMBER, Role.TOKEN_READ, Role.TOKEN_READ_WRITE}
)
_WRITERS = frozenset({Role.BRANCH_ADMIN, Role.TOKEN_READ_WRITE})

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.TENANTS_READ: _ZONE_STAFF,
    Action.TENANTS_WRITE: _ADMIN,
    Action.ZONE_AUDIT_READ: _ADMIN,
    Action.USERS_READ: _ADMIN,
    Action.ZONE_GRANTS_READ: _ADMIN,
    Action.ZONE_GRANTS_WRITE: _ADMIN,
    Action.TRAINING_TARGETS_READ: _ZONE_STAFF,
    Action.TRAINING_TARGETS_WRITE: _ADMIN,
    Action.MEETING_SCHEDULE_READ: _ZONE_STAFF,
    Action.MEETING_SCHEDULE_WRITE: _ADMIN,
    Action.ZONE_ACTIVITIES_READ: _ZONE_STAFF,
    Action.ZONE_ACTIVITIES_WRITE: _ADMIN,
    Action.RANKINGS_READ: _ZONE_STAFF,
    Action.RANKING_WEIGHTS_WRITE: _ADMIN,
    Action.MEMBERS_READ: _READERS,
    Action.MEMBERS_WRITE: _WRITERS,
    Action.MEMBERS_REVEAL: _WRITERS,
    Action.PARTY_GROUPS_READ: _READERS,
    Action.PARTY_GROUPS_WRITE: _WRITERS,
    Action.AUDIT_READ: _BRANCH_ADMIN,
    Action.GRANTS_READ: _BRANCH_ADMIN,
    Action.GRANTS_WRITE: _BRANCH_ADMIN,
    Action.API_TOKENS_READ: _BRANCH_ADMIN,
    Action.API_TOKENS_WRITE: _BRANCH_ADMIN,
    Action.ACTIVITIES_READ: _READERS,
    Action.ACTIVITIES_WRITE: _WRITERS,
    Action.ATTENDANCE_WRITE: _WRITERS,
    Action.TRAINING_READ: _READERS,
    Action.REGISTRATIONS_READ: _READERS,
    Action.REGISTRATIONS_WRITE: _WRITERS,
    Action.STANDING_READ: _READERS,
}


def roles_allow(roles: frozenset[Role], action: Action) -> bool:
    """Whether any of `roles` may take `action`."""
    return bool(roles & PERMISSIONS[action])


def is_allowed(principal: Principal, action: Action, slug: str | None = None) -> bool:
    """Whether `principal`'s own roles (groups, token scope) allow `action` (in branch `slug`,
    for branch actions). Grants made in the app add to these: see `service.access`."""
    if action in ZONE_ACTIONS:
        return roles_allow(principal.zone_roles, action)
    return slug is not None and roles_allow(principal.roles_in(slug), action)


def permission_table() -> list[tuple[str, list[str]]]:
    """The table as rows of (action, roles allowed), for documentation."""
    return [(a.value, sorted(r.value for r in PERMISSIONS[a])) for a in Action]
