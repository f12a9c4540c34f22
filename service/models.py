"""Every model, imported in one place so the metadata (migrations, checks) sees them all."""

from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.members.models import Member, PartyGroup
from tenants.orm import Base
from tenants.registry import Tenant

metadata = Base.metadata

__all__ = ["Member", "PartyGroup", "Tenant", "TenantAuditEvent", "ZoneAuditEvent", "metadata"]
