"""From the identity provider's group names to our roles.

The default rules read the default names (`pmsc:zone:admin`, `pmsc:zone:viewer`,
`pmsc:branch:<slug>:admin`, `pmsc:branch:<slug>:member`). A mapping file (`PMSC_ROLE_MAP`, YAML
or JSON) replaces them, because real providers name groups their own way:

    rules:
      - match: "^CN=PartyCommittee-Admins,OU=Groups,DC=zone$"   # a regular expression
        role: zone:admin
      - match: "^party-(?P<branch>[a-z0-9-]+)-secretary$"       # the branch from the name
        role: branch:admin
      - match: "^hengtong-party-members$"
        role: branch:member
        branch: hengtong-optics                                 # or named outright

Every rule that matches a group adds its role; groups no rule matches are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from service.auth.roles import BRANCH_ROLES, ZONE_ROLES, Role
from tenants.registry import SLUG_PATTERN


class RoleMapError(ValueError):
    """The mapping file is malformed; the message names the rule."""


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    role: Role
    branch: str | None = None  # a fixed branch slug, else the pattern's `branch` group


DEFAULT_RULES = (
    Rule(re.compile(r"^pmsc:zone:admin$"), Role.ZONE_ADMIN),
    Rule(re.compile(r"^pmsc:zone:viewer$"), Role.ZONE_VIEWER),
    Rule(re.compile(r"^pmsc:branch:(?P<branch>[a-z0-9-]{3,40}):admin$"), Role.BRANCH_ADMIN),
    Rule(re.compile(r"^pmsc:branch:(?P<branch>[a-z0-9-]{3,40}):member$"), Role.BRANCH_MEMBER),
)


class RoleMap:
    """Turns a groups claim into zone roles and roles per branch."""

    def __init__(self, rules: Iterable[Rule] = DEFAULT_RULES) -> None:
        self.rules = tuple(rules)

    @classmethod
    def from_file(cls, path: str | Path) -> RoleMap:
        """Load the rules of a YAML or JSON mapping file; raises `RoleMapError`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RoleMapError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise RoleMapError(f"{path} is not UTF-8 text") from None
        try:
            if path.suffix.lower() == ".json":
                document = json.loads(text)
            else:
                import yaml

                document = yaml.safe_load(text)
        except ValueError as error:  # json.JSONDecodeError and yaml.YAMLError's subclasses
            raise RoleMapError(f"{path} is not valid: {error}") from None
        except Exception as error:  # yaml.YAMLError does not derive from ValueError
            raise RoleMapError(f"{path} is not valid YAML: {error}") from None
        rules = document.get("rules") if isinstance(document, dict) else None
        if not isinstance(rules, list) or not rules:
            raise RoleMapError(f"{path} must hold a non-empty list under 'rules'")
        return cls(_rule(entry, index) for index, entry in enumerate(rules, start=1))

    def roles(self, groups: Iterable[object]) -> tuple[frozenset[Role], dict[str, frozenset[Role]]]:
        """Zone roles and per-branch roles the groups confer."""
        zone: set[Role] = set()
        branches: dict[str, set[Role]] = {}
        for group in groups:
            if not isinstance(group, str):
                continue
            for rule in self.rules:
                match = rule.pattern.search(group)
                if match is None:
                    continue
                if rule.role in ZONE_ROLES:
                    zone.add(rule.role)
                    continue
                slug = rule.branch or match.groupdict().get("branch")
                if slug and SLUG_PATTERN.match(slug):
                    branches.setdefault(slug, set()).add(rule.role)
        return frozenset(zone), {slug: frozenset(r) for slug, r in branches.items()}


def _rule(entry: object, index: int) -> Rule:
    where = f"PMSC_ROLE_MAP rule #{index}"
    if not isinstance(entry, dict) or set(entry) - {"match", "role", "branch"}:
        raise RoleMapError(f"{where} must have 'match', 'role' and optionally 'branch'")
    match = entry.get("match")
    if not isinstance(match, str) or not match:
        raise RoleMapError(f"{where}: 'match' must be a non-empty regular expression")
    try:
        pattern = re.compile(match)
    except re.error as error:
        raise RoleMapError(f"{where}: 'match' is not a regular expression: {error}") from None
    mappable = sorted(r.value for r in (*ZONE_ROLES, *BRANCH_ROLES))
    role = entry.get("role")
    if role not in mappable:  # an API token's scope is no role a group can confer
        raise RoleMapError(f"{where}: 'role' must be one of {', '.join(mappable)}")
    role = Role(role)
    branch = entry.get("branch")
    if role in BRANCH_ROLES:
        if branch is not None and not (isinstance(branch, str) and SLUG_PATTERN.match(branch)):
            raise RoleMapError(f"{where}: 'branch' must be a branch slug")
        if branch is None and "branch" not in pattern.groupindex:
            raise RoleMapError(
                f"{where}: a branch role needs 'branch' or a (?P<branch>...) group in 'match'"
            )
    elif branch is not None:
        raise RoleMapError(f"{where}: a zone role takes no 'branch'")
    return Rule(pattern, role, branch)


def roles_from_groups(
    groups: Iterable[object],
) -> tuple[frozenset[Role], dict[str, frozenset[Role]]]:
    """Roles the default group names confer."""
    return RoleMap().roles(groups)


def groups_from_claims(claims: dict, claim: str) -> list[str]:
    """The group names in a token's `claim` (absent: none); ValueError if it is not a list."""
    groups = claims.get(claim) or []
    if isinstance(groups, str):
        return [groups]
    if not isinstance(groups, list):
        raise ValueError(f"the {claim!r} claim is not a list")
    return [g for g in groups if isinstance(g, str)]
