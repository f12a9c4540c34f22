"""Two branches' rosters for the isolation tests: seeded through the domain service, each in
its own tenant context and committed, and read back in that context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from service.database import db
from service.members.models import Category, Gender, Member, PartyGroup
from service.members.service import create_member, save_party_group
from tenants.context import Context
from tenants.isolation import bind_context


@dataclass(frozen=True)
class Roster:
    """What `seed` committed for one branch."""

    tenant_id: uuid.UUID
    group: PartyGroup
    members: tuple[Member, ...]

    @property
    def member_ids(self) -> set[uuid.UUID]:
        return {m.id for m in self.members}


def member_fields(name: str, **extra) -> dict:
    return {"name": name, "gender": Gender.FEMALE, "category": Category.WORKER, **extra}


def bulk_row(tenant_id: uuid.UUID, name: str) -> dict:
    """A member row for an ORM bulk insert (which sets no defaults of the ORM's own)."""
    return {"tenant_id": tenant_id, "id": uuid.uuid4(), "version": 1, **member_fields(name)}


def seed(tenant_id: uuid.UUID, names: tuple[str, ...]) -> Roster:
    """A party group and members for `tenant_id`, created in its context and committed."""
    session = db.new_session()
    try:
        bind_context(session, Context.tenant(tenant_id))
        group = save_party_group(
            session, tenant_id=tenant_id, group=None, fields={"name": "第一党小组"}
        )
        members = tuple(
            create_member(
                session, tenant_id=tenant_id, fields=member_fields(n, party_group_id=group.id)
            )
            for n in names
        )
        session.commit()
        return Roster(tenant_id, group, members)
    finally:
        session.close()


def snapshot(tenant_id: uuid.UUID) -> dict[uuid.UUID, tuple]:
    """The tenant's members as its own context sees them, from a fresh session."""
    session = db.new_session()
    try:
        bind_context(session, Context.tenant(tenant_id))
        rows = session.execute(select(Member.id, Member.name, Member.notes, Member.version))
        return {row.id: tuple(row[1:]) for row in rows}
    finally:
        session.close()
