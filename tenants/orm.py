"""The declarative base, shared column types and the mixin every tenant-owned model uses."""

from __future__ import annotations

import enum
import os
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), so new rows append to the primary-key index."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model; constraint names follow one convention so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantOwned:
    """Mixin of tenant-owned models: primary key `(tenant_id, id)`, `tenant_id` never null.

    Foreign keys between tenant-owned tables must include `tenant_id` too (see
    `tenant_foreign_key`), so the database refuses a row of one tenant pointing at another's.
    """

    __tenant_owned__ = True

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(
            ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True, nullable=False
        )

    @declared_attr
    def id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(primary_key=True, default=uuid7)

    @declared_attr.directive
    def __table_args__(cls):  # noqa: N805
        return {"info": {"tenant_owned": True}}


def is_tenant_owned(model_or_table) -> bool:
    """True for a tenant-owned model class or table."""
    table = getattr(model_or_table, "__table__", model_or_table)
    return bool(getattr(table, "info", {}).get("tenant_owned"))


def tenant_owned_tables(metadata: MetaData | None = None) -> list:
    """Every tenant-owned table in the metadata, in dependency order."""
    return [t for t in (metadata or Base.metadata).sorted_tables if is_tenant_owned(t)]


def tenant_table_args(*constraints) -> tuple:
    """`__table_args__` for a tenant-owned model that adds constraints or indexes of its own."""
    return (*constraints, {"info": {"tenant_owned": True}})


def escape_like(value: str) -> str:
    """`value` with LIKE wildcards escaped (use with `escape="\\\\"`)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A string enum column stored as its values in a VARCHAR with a CHECK (portable, no DDL
    type to migrate when a value is added)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=30,
        validate_strings=True,
        create_constraint=True,
        values_callable=lambda e: [m.value for m in e],
    )
