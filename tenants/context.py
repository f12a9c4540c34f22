"""The context every request, command and job runs in: one tenant, the zone, or the system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

Scope = Literal["tenant", "zone", "system"]


@dataclass(frozen=True)
class Context:
    """Where a unit of work runs. Tenant-owned rows are reachable only from a tenant context
    (read and write) or the zone context (read only, for rollups)."""

    scope: Scope
    tenant_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if (self.scope == "tenant") != (self.tenant_id is not None):
            raise ValueError("a tenant context needs a tenant id, and only it has one")

    @classmethod
    def tenant(cls, tenant_id: uuid.UUID) -> Context:
        return cls("tenant", tenant_id)

    @classmethod
    def zone(cls) -> Context:
        return cls("zone")

    @classmethod
    def system(cls) -> Context:
        return cls("system")
