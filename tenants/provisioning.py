"""Creating and changing tenants. A new tenant is one registry row: no DDL, constant time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenants.errors import SlugTaken, TenantNotFound
from tenants.orm import escape_like
from tenants.registry import SLUG_PATTERN, SLUG_RULE, Tenant, TenantStatus

MUTABLE_FIELDS = (
    "name",
    "enterprise_name",
    "enterprise_type",
    "industry",
    "employee_count",
    "organization_type",
    "status",
)


def create_tenant(session: Session, *, slug: str, **fields: Any) -> Tenant:
    """Register a new tenant; raises `SlugTaken` if the slug is in use."""
    if not SLUG_PATTERN.match(slug):
        raise ValueError(f"slug {slug!r} is not valid: {SLUG_RULE}")
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise SlugTaken(slug)
    tenant = Tenant(slug=slug, **fields)
    session.add(tenant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        # another transaction registered the same slug between our check and our insert
        raise SlugTaken(slug) from error
    return tenant


def get_tenant(session: Session, *, slug: str) -> Tenant:
    """The tenant with this slug; raises `TenantNotFound`."""
    if not SLUG_PATTERN.match(slug):  # no branch has it (and a NUL byte is a database error)
        raise TenantNotFound(slug)
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise TenantNotFound(slug)
    return tenant


def update_tenant(session: Session, *, tenant: Tenant, changes: Mapping[str, Any]) -> Tenant:
    """Apply `changes` to the tenant's mutable fields; the slug never changes."""
    unknown = set(changes) - set(MUTABLE_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(tenant, name, value)
    session.flush()
    return tenant


def set_status(session: Session, *, slug: str, status: TenantStatus) -> Tenant:
    """Suspend, archive or reactivate a tenant."""
    return update_tenant(session, tenant=get_tenant(session, slug=slug), changes={"status": status})


def list_tenants(
    session: Session,
    *,
    status: TenantStatus | None = None,
    enterprise_type: str | None = None,
    industry: str | None = None,
    name_contains: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Tenant], int]:
    """Tenants matching the filters, ordered by slug, and how many match in all."""
    query = select(Tenant)
    if status is not None:
        query = query.where(Tenant.status == status)
    if enterprise_type is not None:
        query = query.where(Tenant.enterprise_type == enterprise_type)
    if industry is not None:
        query = query.where(Tenant.industry == industry)
    if name_contains:
        pattern = f"%{escape_like(name_contains)}%"
        query = query.where(
            Tenant.name.like(pattern, escape="\\")
            | Tenant.enterprise_name.like(pattern, escape="\\")
        )
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(Tenant.slug).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    return list(session.scalars(page)), total or 0


def tenants_by_slug(session: Session, slugs: set[str]) -> dict[str, Tenant]:
    """The registered tenants among `slugs`."""
    if not slugs:
        return {}
    return {t.slug: t for t in session.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))}
