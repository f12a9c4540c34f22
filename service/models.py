"""Every model, imported in one place so the metadata (migrations, checks) sees them all."""

from service.access.models import ApiToken, RoleGrant, User, UserSession
from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.members.models import Member, PartyGroup
from tenants.orm import Base
from tenants.registry import Tenant

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "Member",
    "PartyGroup",
    "RoleGrant",
    "Tenant",
    "TenantAuditEvent",
    "User",
    "UserSession",
    "ZoneAuditEvent",
    "metadata",
]
