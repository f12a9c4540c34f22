"""Accounts and sessions (zone level); role grants and API tokens (owned by a branch)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenants.orm import (
    Base,
    JSONDocument,
    TenantOwned,
    UTCDateTime,
    str_enum,
    tenant_table_args,
    utcnow,
    uuid7,
)


class User(Base):
    """A person who has signed in through the zone's identity provider, keyed by (iss, sub)."""

    __tablename__ = "users"
    __audited__ = True  # sign-ins and group changes land in the zone's audit log
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(120))
    username: Mapped[str | None] = mapped_column(String(120), index=True)
    email: Mapped[str | None] = mapped_column(String(255), index=True)
    # the groups claim of the latest sign-in: roles are derived from it on every request
    groups: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserSession(Base):
    """A browser session: the cookie holds a secret, the database its hash."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str | None] = mapped_column(Text)  # the logout hint for the provider
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class GrantedRole(enum.StrEnum):
    ADMIN = "branch:admin"
    MEMBER = "branch:member"


class RoleGrant(TenantOwned, Base):
    """A branch role given to an account inside the app (for providers without groups)."""

    __tablename__ = "role_grants"
    __audited__ = True
    __table_args__ = tenant_table_args(
        UniqueConstraint("tenant_id", "user_id", "role"),
        Index("ix_role_grants_user", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[GrantedRole] = mapped_column(str_enum(GrantedRole, "granted_role"))
    granted_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TokenScope(enum.StrEnum):
    READ = "read"
    READ_WRITE = "read-write"


class ApiToken(TenantOwned, Base):
    """An integration's token for one branch. Only its hash is kept; the secret is shown once."""

    __tablename__ = "api_tokens"
    __audited__ = True
    __table_args__ = tenant_table_args(UniqueConstraint("secret_hash"))

    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[TokenScope] = mapped_column(str_enum(TokenScope, "token_scope"))
    secret_hash: Mapped[str] = mapped_column(String(64), info={"sensitive": True})
    hint: Mapped[str] = mapped_column(String(12))  # the secret's last characters, to tell apart
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
