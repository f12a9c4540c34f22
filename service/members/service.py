"""The rules of a branch's roster. Plain functions: the session and tenant come in, nothing
commits (the request or the command owns the transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import Conflict, Invalid, NotFound
from service.members.id_card import mask_id_card, mask_phone, parse_id_card
from service.members.models import Category, Member, PartyGroup, PartyStatus
from service.messages import msg
from service.rollups.triggers import mark_branch_changed
from tenants.orm import escape_like
from tenants.table_reads import TableRecord, TenantTableRead

MIN_ADMISSION_AGE = 18  # Party Constitution, article 1
# the fields the zone's rollups count by: changing one has the branch recomputed
COUNTED = frozenset({"category", "party_status"})


@dataclass(frozen=True)
class MemberFilters:
    category: Category | None = None
    party_status: PartyStatus | None = None
    name: str | None = None
    party_group_id: uuid.UUID | None = None


# the list endpoints' hot path: see tenants.table_reads
MEMBER_PAGES = TenantTableRead(
    Member,
    order_by=lambda t: (t.c.name, t.c.id),
    conditions={
        "category": lambda t: t.c.category == bindparam("category"),
        "party_status": lambda t: t.c.party_status == bindparam("party_status"),
        "name": lambda t: t.c.name.like(bindparam("name"), escape="\\"),
        "party_group_id": lambda t: t.c.party_group_id == bindparam("party_group_id"),
    },
)


def list_members(
    session: Session, *, tenant_id: uuid.UUID, filters: MemberFilters, offset: int, limit: int
) -> tuple[list[TableRecord], int]:
    """The branch's members matching `filters`, by name, and how many match in all (read-only
    records: load a member with `get_member` to change it)."""
    pattern = f"%{escape_like(filters.name)}%" if filters.name else None
    where = {**vars(filters), "name": pattern}
    return MEMBER_PAGES.page(session, tenant_id=tenant_id, where=where, offset=offset, limit=limit)


def get_member(session: Session, *, tenant_id: uuid.UUID, member_id: uuid.UUID) -> Member:
    """One member of the branch; `NotFound` otherwise (also for another branch's member)."""
    member = session.scalar(
        select(Member).where(Member.tenant_id == tenant_id, Member.id == member_id)
    )
    if member is None:
        raise NotFound(msg("No member %(id)s in this branch.", id=member_id))
    return member


def create_member(session: Session, *, tenant_id: uuid.UUID, fields: Mapping[str, Any]) -> Member:
    """Add a member after checking the roster's rules."""
    member = Member(tenant_id=tenant_id, **_normalized(fields))
    _check(session, member)
    session.add(member)
    session.flush()
    mark_branch_changed(session, tenant_id=tenant_id)
    return member


def update_member(session: Session, *, member: Member, changes: Mapping[str, Any]) -> Member:
    """Change a member's fields; the result must still satisfy the roster's rules."""
    normalized = _normalized(changes)
    counted = any(
        getattr(member, name) != value for name, value in normalized.items() if name in COUNTED
    )
    for name, value in normalized.items():
        setattr(member, name, value)
    # no autoflush: the rules' own queries must not write the changed member first (a bad
    # party_group_id would hit the composite foreign key as a 409 instead of the 422 below)
    with session.no_autoflush:
        _check(session, member)
    session.flush()
    if counted:
        mark_branch_changed(session, tenant_id=member.tenant_id)
    return member


def delete_member(session: Session, *, member: Member) -> None:
    """Remove a member from the roster."""
    session.delete(member)
    session.flush()
    mark_branch_changed(session, tenant_id=member.tenant_id)


def present(member: Member, *, reveal: bool) -> Member | _MaskedMember:
    """The member as the caller may see it: ID-card number and phone masked unless `reveal`."""
    return member if reveal else _MaskedMember(member)


class _MaskedMember:
    def __init__(self, member: Member) -> None:
        self._member = member

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._member, name)
        if value is not None and name == "phone":
            return mask_phone(value)
        if value is not None and name == "id_card_number":
            return mask_id_card(value)
        return value


def _normalized(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if out.get("id_card_number"):
        out["id_card_number"] = out["id_card_number"].upper()
    if out.get("phone"):
        phone = out["phone"].replace(" ", "")
        for prefix in ("+86", "86"):
            if phone.startswith(prefix) and len(phone) == len(prefix) + 11:
                phone = phone[len(prefix) :]
        out["phone"] = phone
    return out


def _check(session: Session, m: Member) -> None:
    errors: dict[str, str] = {}
    party = m.category == Category.PARTY_MEMBER
    if not party:
        for name in ("party_status", "joined_party_date", "full_membership_date"):
            if getattr(m, name) is not None:
                errors[name] = msg(
                    "Only party members have this; leave it empty for this category."
                )
    elif m.party_status is None:
        errors["party_status"] = msg("A party member is probationary or full.")
    if m.party_status == PartyStatus.PROBATIONARY and m.full_membership_date is not None:
        errors["full_membership_date"] = msg(
            "A probationary member has no full-membership date yet."
        )
    if (
        m.joined_party_date
        and m.full_membership_date
        and m.full_membership_date < m.joined_party_date
    ):
        errors["full_membership_date"] = msg("Must not be before the date of joining the party.")
    if (
        m.birth_date
        and m.joined_party_date
        and m.joined_party_date < _add_years(m.birth_date, MIN_ADMISSION_AGE)
    ):
        errors["joined_party_date"] = msg(
            "A member joins the party at %(age)s or older.", age=MIN_ADMISSION_AGE
        )
    if m.id_card_number:
        card = parse_id_card(m.id_card_number)
        if m.birth_date and m.birth_date != card.birth_date:
            errors["birth_date"] = msg(
                "Does not match the ID-card number (%(birth_date)s).",
                birth_date=card.birth_date.isoformat(),
            )
        if m.gender and m.gender.value != card.gender:
            errors["gender"] = msg("Does not match the ID-card number.")
    if (
        m.party_group_id is not None
        and session.scalar(
            select(PartyGroup.id).where(
                PartyGroup.tenant_id == m.tenant_id, PartyGroup.id == m.party_group_id
            )
        )
        is None
    ):
        errors["party_group_id"] = msg("No such party group in this branch.")
    if errors:
        raise Invalid(errors)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# party groups


def list_party_groups(session: Session, *, tenant_id: uuid.UUID) -> list[tuple[PartyGroup, int]]:
    """The branch's party groups with their member counts, by name."""
    counts = dict(
        session.execute(
            select(Member.party_group_id, func.count(Member.id))
            .where(Member.tenant_id == tenant_id, Member.party_group_id.is_not(None))
            .group_by(Member.party_group_id)
        ).all()
    )
    groups = session.scalars(
        select(PartyGroup).where(PartyGroup.tenant_id == tenant_id).order_by(PartyGroup.name)
    )
    return [(group, counts.get(group.id, 0)) for group in groups]


def get_party_group(session: Session, *, tenant_id: uuid.UUID, group_id: uuid.UUID) -> PartyGroup:
    """One party group of the branch; `NotFound` otherwise."""
    group = session.scalar(
        select(PartyGroup).where(PartyGroup.tenant_id == tenant_id, PartyGroup.id == group_id)
    )
    if group is None:
        raise NotFound(msg("No party group %(id)s in this branch.", id=group_id))
    return group


def save_party_group(
    session: Session, *, tenant_id: uuid.UUID, group: PartyGroup | None, fields: Mapping[str, Any]
) -> PartyGroup:
    """Create (`group` None) or change a party group; names are unique in the branch."""
    name = fields.get("name", group.name if group else None)
    clash = session.scalar(
        select(PartyGroup.id).where(PartyGroup.tenant_id == tenant_id, PartyGroup.name == name)
    )
    if clash is not None and (group is None or clash != group.id):
        raise Conflict(msg("The branch already has a party group named %(name)r.", name=name))
    if group is None:
        group = PartyGroup(tenant_id=tenant_id)
        session.add(group)
    for key, value in fields.items():
        setattr(group, key, value)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        # another transaction took the name between our check and our write: the unique key
        # (tenant_id, name) refused it, and the refusal is the same 409 as the check's
        raise Conflict(
            msg("The branch already has a party group named %(name)r.", name=name)
        ) from error
    return group


def delete_party_group(session: Session, *, group: PartyGroup) -> None:
    """Delete an empty party group; one with members is a `Conflict`."""
    # count an ORM column, not `select_from(Member)`: the isolation layer refuses a tenant
    # table its loader criteria cannot reach
    members = session.scalar(
        select(func.count(Member.id)).where(
            Member.tenant_id == group.tenant_id, Member.party_group_id == group.id
        )
    )
    if members:
        raise Conflict(
            msg("The party group still has %(n)s member(s); move them first.", n=members)
        )
    session.delete(group)
    session.flush()


def roster_figures(session: Session, *, tenant_id: uuid.UUID) -> dict[str, int]:
    """The branch's head counts: by category, party members by status, party groups."""
    figures = {c.value: 0 for c in Category}
    for category, count in session.execute(
        select(Member.category, func.count(Member.id))
        .where(Member.tenant_id == tenant_id)
        .group_by(Member.category)
    ):
        figures[category.value] = count
    for status, count in session.execute(
        select(Member.party_status, func.count(Member.id))
        .where(Member.tenant_id == tenant_id, Member.party_status.is_not(None))
        .group_by(Member.party_status)
    ):
        figures[f"party-{status.value}"] = count
    figures["party-groups"] = (
        session.scalar(select(func.count(PartyGroup.id)).where(PartyGroup.tenant_id == tenant_id))
        or 0
    )
    figures["total"] = sum(figures[c.value] for c in Category)
    return figures
