"""Roles, and the authenticated caller."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field


class Role(enum.StrEnum):
    ZONE_ADMIN = "zone:admin"
    ZONE_VIEWER = "zone:viewer"
    BRANCH_ADMIN = "branch:admin"
    BRANCH_MEMBER = "branch:member"
    # what an integration's API token may do in its one branch
    TOKEN_READ = "token:read"  # noqa: S105 - a role name
    TOKEN_READ_WRITE = "token:read-write"  # noqa: S105 - a role name


ZONE_ROLES = frozenset({Role.ZONE_ADMIN, Role.ZONE_VIEWER})
BRANCH_ROLES = frozenset({Role.BRANCH_ADMIN, Role.BRANCH_MEMBER})
TOKEN_ROLES = frozenset({Role.TOKEN_READ, Role.TOKEN_READ_WRITE})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: who, and which roles in the zone and in which branches."""

    issuer: str
    subject: str
    name: str | None = None
    zone_roles: frozenset[Role] = frozenset()
    # from the groups claim, or an API token's scope; grants made in the app come on top
    branch_roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    user_id: uuid.UUID | None = None  # the person's account, once they have signed in
    session_id: uuid.UUID | None = None  # authenticated by the session cookie
    api_token_id: uuid.UUID | None = None  # an integration's token

    @property
    def by_cookie(self) -> bool:
        return self.session_id is not None

    @property
    def actor(self) -> dict[str, str | None]:
        """How the audit log names this caller."""
        return {"iss": self.issuer, "sub": self.subject, "name": self.name}

    @property
    def label(self) -> str:
        """How a grant or a token records who made it: "name (subject)", or the subject."""
        return self.subject if self.name is None else f"{self.name} ({self.subject})"

    def roles_in(self, slug: str) -> frozenset[Role]:
        """The caller's roles in the branch `slug` (empty when none)."""
        return self.branch_roles.get(slug, frozenset())
