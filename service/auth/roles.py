"""Roles, and how they are read from the identity provider's groups claim."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Role(enum.StrEnum):
    ZONE_ADMIN = "zone:admin"
    ZONE_VIEWER = "zone:viewer"
    BRANCH_ADMIN = "branch:admin"
    BRANCH_MEMBER = "branch:member"


ZONE_ROLES = frozenset({Role.ZONE_ADMIN, Role.ZONE_VIEWER})
BRANCH_ROLES = frozenset({Role.BRANCH_ADMIN, Role.BRANCH_MEMBER})

_ZONE_GROUP = re.compile(r"^pmsc:zone:(admin|viewer)$")
_BRANCH_GROUP = re.compile(r"^pmsc:branch:([a-z0-9-]{3,40}):(admin|member)$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: who, and which roles in the zone and in which branches."""

    issuer: str
    subject: str
    name: str | None = None
    zone_roles: frozenset[Role] = frozenset()
    branch_roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)

    @property
    def actor(self) -> dict[str, str | None]:
        """How the audit log names this caller."""
        return {"iss": self.issuer, "sub": self.subject, "name": self.name}

    def roles_in(self, slug: str) -> frozenset[Role]:
        """The caller's roles in the branch `slug` (empty when none)."""
        return self.branch_roles.get(slug, frozenset())


def roles_from_groups(groups: Iterable[str]) -> tuple[frozenset[Role], dict[str, frozenset[Role]]]:
    """Zone roles and per-branch roles named by the default group names; others are ignored."""
    zone: set[Role] = set()
    branches: dict[str, set[Role]] = {}
    for group in groups:
        if not isinstance(group, str):
            continue
        if match := _ZONE_GROUP.match(group):
            zone.add(Role(f"zone:{match.group(1)}"))
        elif match := _BRANCH_GROUP.match(group):
            branches.setdefault(match.group(1), set()).add(Role(f"branch:{match.group(2)}"))
    return frozenset(zone), {slug: frozenset(r) for slug, r in branches.items()}
