"""Members and party groups of a branch (tenant-owned)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.crypto import EncryptedText
from tenants.orm import Base, TenantOwned, UTCDateTime, str_enum, tenant_table_args, utcnow


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Category(enum.StrEnum):
    PARTY_MEMBER = "party-member"
    LEAGUE_MEMBER = "league-member"
    WORKER = "worker"
    OTHER = "other"


class PartyStatus(enum.StrEnum):
    PROBATIONARY = "probationary"
    FULL = "full"


class Education(enum.StrEnum):
    PRIMARY_OR_BELOW = "primary-or-below"
    JUNIOR_HIGH = "junior-high"
    SENIOR_HIGH = "senior-high"
    VOCATIONAL_SECONDARY = "vocational-secondary"
    JUNIOR_COLLEGE = "junior-college"
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTORATE = "doctorate"


class PartyGroup(TenantOwned, Base):
    """A party group (党小组) inside a branch."""

    __tablename__ = "party_groups"
    __audited__ = True
    __table_args__ = tenant_table_args(UniqueConstraint("tenant_id", "name"))

    name: Mapped[str] = mapped_column(String(60))
    notes: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Member(TenantOwned, Base):
    """A person on the branch's roster."""

    __tablename__ = "members"
    __audited__ = True
    __table_args__ = tenant_table_args(
        # composite: a member can only belong to a party group of its own branch
        ForeignKeyConstraint(
            ["tenant_id", "party_group_id"],
            ["party_groups.tenant_id", "party_groups.id"],
            name="fk_members_party_group",
            ondelete="RESTRICT",
        ),
        Index("ix_members_tenant_name", "tenant_id", "name"),
        Index("ix_members_tenant_category", "tenant_id", "category", "party_status"),
    )

    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[Gender] = mapped_column(str_enum(Gender, "gender"))
    birth_date: Mapped[date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))
    education: Mapped[Education | None] = mapped_column(str_enum(Education, "education"))
    phone: Mapped[str | None] = mapped_column(EncryptedText(), info={"sensitive": True})
    id_card_number: Mapped[str | None] = mapped_column(EncryptedText(), info={"sensitive": True})
    category: Mapped[Category] = mapped_column(str_enum(Category, "member_category"))
    party_status: Mapped[PartyStatus | None] = mapped_column(str_enum(PartyStatus, "party_status"))
    joined_party_date: Mapped[date | None] = mapped_column(Date)
    full_membership_date: Mapped[date | None] = mapped_column(Date)
    position: Mapped[str | None] = mapped_column(String(60))
    party_group_id: Mapped[uuid.UUID | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
