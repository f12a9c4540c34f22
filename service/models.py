"""Every model, imported in one place so the metadata (migrations, checks) sees them all."""

from service.access.models import ApiToken, RoleGrant, User, UserSession
from service.activities.models import (
    Activity,
    Attendance,
    TrainingTarget,
    ZoneActivity,
    ZoneRegistration,
)
from service.audit.models import TenantAuditEvent, ZoneAuditEvent
from service.members.models import Member, PartyGroup
from service.rollups.models import BranchRollup, MeetingRequirement, RankingWeight
from tenants.orm import Base
from tenants.registry import Tenant
from workers.models import OutboxMessage

metadata = Base.metadata

__all__ = [
    "Activity",
    "ApiToken",
    "Attendance",
    "BranchRollup",
    "MeetingRequirement",
    "Member",
    "OutboxMessage",
    "PartyGroup",
    "RankingWeight",
    "RoleGrant",
    "Tenant",
    "TenantAuditEvent",
    "TrainingTarget",
    "User",
    "UserSession",
    "ZoneActivity",
    "ZoneAuditEvent",
    "ZoneRegistration",
    "metadata",
]
