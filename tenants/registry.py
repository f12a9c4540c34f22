"""The tenant registry: one row per enterprise Party organization, kept at zone level."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.orm import Base, UTCDateTime, str_enum, utcnow, uuid7

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]\Z")  # \Z: no trailing newline
SLUG_RULE = "3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'"


class EnterpriseType(enum.StrEnum):
    PRIVATE = "private"
    FOREIGN_FUNDED = "foreign-funded"
    JOINT_VENTURE = "joint-venture"
    OTHER = "other"


class OrganizationType(enum.StrEnum):
    BRANCH = "branch"
    GENERAL_BRANCH = "general-branch"
    COMMITTEE = "committee"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


class Tenant(Base):
    """An enterprise Party organization (branch, general branch or committee) and its space."""

    __tablename__ = "tenants"
    __audited__ = True
    __table_args__ = (CheckConstraint("employee_count >= 0", name="employee_count_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    enterprise_name: Mapped[str] = mapped_column(String(200))
    enterprise_type: Mapped[EnterpriseType] = mapped_column(
        str_enum(EnterpriseType, "enterprise_type")
    )
    industry: Mapped[str] = mapped_column(String(80))
    employee_count: Mapped[int] = mapped_column(Integer)
    organization_type: Mapped[OrganizationType] = mapped_column(
        str_enum(OrganizationType, "organization_type")
    )
    status: Mapped[TenantStatus] = mapped_column(
        str_enum(TenantStatus, "tenant_status"), default=TenantStatus.ACTIVE, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def __repr__(self) -> str:
        return f"<Tenant {self.slug} {self.status}>"
