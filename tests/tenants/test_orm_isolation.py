"""Layer 1 of tenant isolation: the ORM hooks of `tenants.isolation`, on their own.

Every test seeds real rows for two branches (A and B) through the domain service, each in its own
tenant context and committed, then works in A's context (or none, or the zone's) and checks that
B's rows are neither seen nor touched. B's rows are re-read afterwards in B's own context, so a
write that slipped through would show. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import (
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from service.members.models import Category, Gender, Member, PartyGroup
from tenants.context import Context
from tenants.errors import CrossTenantWrite, NoTenantContext, TenancyError, UncheckedSQL
from tenants.isolation import bind_context
from tenants.registry import Tenant
from tests.tenants.rosters import Roster, bulk_row, member_fields, snapshot

# no context, system context


@pytest.mark.parametrize("context", [None, Context.system()], ids=["no-context", "system"])
def test_selecting_members_outside_a_tenant_context_raises(db_session, branches, context):
    if context is not None:
        bind_context(db_session, context)
    with pytest.raises(NoTenantContext):
        db_session.scalars(select(Member)).all()
    with pytest.raises(NoTenantContext):
        db_session.scalar(select(func.count()).select_from(select(PartyGroup).subquery()))
    with pytest.raises(NoTenantContext):
        db_session.get(Member, (branches[1].tenant_id, branches[1].members[0].id))


def test_writing_a_member_outside_a_tenant_context_raises(db_session, branches):
    db_session.add(Member(tenant_id=branches[0].tenant_id, **member_fields("无主")))
    with pytest.raises(NoTenantContext):
        db_session.flush()


# reads in branch A's context


def test_branch_a_selects_only_its_own_members(in_a, branches):
    a, b = branches
    assert set(in_a.scalars(select(Member.id))) == a.member_ids
    assert {m.id for m in in_a.scalars(select(Member))} == a.member_ids
    # even asking for B's rows by name returns nothing
    asked = select(Member).where(Member.tenant_id == b.tenant_id)
    assert in_a.scalars(asked).all() == []
    assert in_a.scalars(select(Member).where(Member.id.in_(b.member_ids))).all() == []


def test_branch_a_cannot_read_branch_b_party_groups_through_a_join(in_a, branches):
    a, _ = branches
    rows = in_a.execute(
        select(Member.id, PartyGroup.id).join(PartyGroup, Member.party_group_id == PartyGroup.id)
    ).all()
    assert {member_id for member_id, _ in rows} == a.member_ids
    assert {group_id for _, group_id in rows} == {a.group.id}


def test_branch_a_cannot_read_branch_b_members_through_an_alias(in_a, branches):
    a, _ = branches
    other = aliased(Member)
    assert set(in_a.scalars(select(other.id))) == a.member_ids


def test_count_over_a_subquery_counts_only_the_current_branch(in_a, branches):
    count = in_a.scalar(select(func.count()).select_from(select(Member).subquery()))
    assert count == len(branches[0].members)


def test_grouped_column_select_sees_only_the_current_branch(in_a, branches):
    a, _ = branches
    rows = in_a.execute(
        select(Member.tenant_id, Member.party_group_id, func.count(Member.id)).group_by(
            Member.tenant_id, Member.party_group_id
        )
    ).all()
    assert [tuple(r) for r in rows] == [(a.tenant_id, a.group.id, len(a.members))]


def _exists_in_b(session, a: Roster, b: Roster):
    found = session.scalar(select(exists().where(Member.tenant_id == b.tenant_id)))
    return found, False


def _member_count_per_branch(session, a: Roster, b: Roster):
    members = select(func.count(Member.id)).where(Member.tenant_id == Tenant.id)
    rows = session.execute(
        select(Tenant.id, members.scalar_subquery()).where(
            Tenant.id.in_([a.tenant_id, b.tenant_id])
        )
    )
    return dict(rows.all()), {a.tenant_id: len(a.members), b.tenant_id: 0}


def _union_of_both(session, a: Roster, b: Roster):
    both = union_all(
        select(Member.id).where(Member.tenant_id == b.tenant_id),
        select(Member.id).where(Member.tenant_id == a.tenant_id),
    )
    return set(session.scalars(both)), a.member_ids


def _branches_having_members(session, a: Roster, b: Roster):
    having = select(Tenant.id).where(
        Tenant.id.in_([a.tenant_id, b.tenant_id]), Tenant.id.in_(select(Member.tenant_id))
    )
    return set(session.scalars(having)), {a.tenant_id}


def _grouped_cte(session, a: Roster, b: Roster):
    rows = select(Member.id, Member.tenant_id).cte()
    counts = session.execute(select(rows.c.tenant_id, func.count()).group_by(rows.c.tenant_id))
    return dict(counts.all()), {a.tenant_id: len(a.members)}


@pytest.mark.parametrize(
    "shape",
    [
        _exists_in_b,
        _member_count_per_branch,
        _union_of_both,
        _branches_having_members,
        _grouped_cte,
    ],
)
def test_nested_statements_in_branch_a_never_reveal_branch_b(in_a, branches, shape):
    """EXISTS, scalar subqueries, UNION, IN (subquery), CTE: filtered, or refused outright."""
    try:
        got, expected = shape(in_a, *branches)
    except NoTenantContext:
        got = expected = "refused"  # the hook fails closed on shapes it cannot vouch for
    assert got == expected


def test_get_of_branch_b_member_returns_none_in_branch_a(in_a, branches):
    a, b = branches
    b_member = b.members[0]
    assert in_a.get(Member, (b.tenant_id, b_member.id)) is None
    assert in_a.get(PartyGroup, (b.tenant_id, b.group.id)) is None
    own = a.members[0]
    assert in_a.get(Member, (a.tenant_id, own.id)).name == own.name


def test_session_moving_from_branch_b_to_branch_a_forgets_branch_b_rows(db_session, branches):
    a, b = branches
    key = (b.tenant_id, b.members[0].id)
    bind_context(db_session, Context.tenant(b.tenant_id))
    held = db_session.get(Member, key), db_session.get(PartyGroup, (b.tenant_id, b.group.id))
    assert None not in held  # held, so they stay in the (weak) identity map
    bind_context(db_session, Context.tenant(a.tenant_id))
    assert db_session.get(Member, key) is None
    assert db_session.get(PartyGroup, (b.tenant_id, b.group.id)) is None
    bind_context(db_session, Context.system())
    with pytest.raises(NoTenantContext):
        db_session.get(Member, (a.tenant_id, a.members[0].id))


# ORM update / delete statements in branch A's context


def test_orm_update_statement_in_branch_a_never_touches_branch_b(in_a, branches):
    a, b = branches
    before = snapshot(b.tenant_id)
    everyone = in_a.execute(update(Member).values(notes="甲改"))
    targeted = in_a.execute(update(Member).where(Member.id.in_(b.member_ids)).values(notes="越权"))
    in_a.commit()
    assert everyone.rowcount == len(a.members)
    assert targeted.rowcount == 0
    assert snapshot(b.tenant_id) == before
    assert {notes for _, notes, _ in snapshot(a.tenant_id).values()} == {"甲改"}


def test_orm_delete_statement_in_branch_a_never_touches_branch_b(in_a, branches):
    a, b = branches
    before = snapshot(b.tenant_id)
    targeted = in_a.execute(delete(Member).where(Member.id.in_(b.member_ids)))
    everyone = in_a.execute(delete(Member))
    in_a.commit()
    assert targeted.rowcount == 0
    assert everyone.rowcount == len(a.members)
    assert snapshot(b.tenant_id) == before
    assert snapshot(a.tenant_id) == {}


def test_orm_bulk_update_by_primary_key_never_touches_branch_b(in_a, branches):
    _, b = branches
    before = snapshot(b.tenant_id)
    rows = [
        {"tenant_id": b.tenant_id, "id": m.id, "version": m.version, "notes": "越权"}
        for m in b.members
    ]
    with pytest.raises(CrossTenantWrite):
        in_a.execute(update(Member), rows)
    in_a.rollback()
    assert snapshot(b.tenant_id) == before


@pytest.mark.parametrize("how", ["values", "parameters"])
def test_orm_update_statement_cannot_move_branch_a_rows_to_branch_b(in_a, branches, how):
    a, b = branches
    statement = update(Member).where(Member.id == a.members[0].id)
    moved = {"tenant_id": b.tenant_id, "party_group_id": None}
    with pytest.raises(CrossTenantWrite):
        if how == "values":
            in_a.execute(statement.values(**moved))
        else:
            in_a.execute(statement, moved)
    in_a.rollback()
    assert set(snapshot(b.tenant_id)) == b.member_ids
    assert set(snapshot(a.tenant_id)) == a.member_ids


# flushes in branch A's context


def test_flush_inserting_a_branch_b_row_in_branch_a_raises(in_a, branches):
    _, b = branches
    in_a.add(Member(tenant_id=b.tenant_id, **member_fields("冒名")))
    with pytest.raises(CrossTenantWrite):
        in_a.flush()
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_flush_updating_a_branch_b_row_in_branch_a_raises(in_a, branches):
    _, b = branches
    before = snapshot(b.tenant_id)
    stray = b.members[0]  # loaded in B's context, detached, handed to A's session
    in_a.add(stray)
    stray.notes = "越权"
    with pytest.raises(CrossTenantWrite):
        in_a.flush()
    in_a.rollback()
    assert snapshot(b.tenant_id) == before


def test_flush_deleting_a_branch_b_row_in_branch_a_raises(in_a, branches):
    _, b = branches
    before = snapshot(b.tenant_id)
    stray = b.members[0]
    in_a.add(stray)
    in_a.delete(stray)
    with pytest.raises(CrossTenantWrite):
        in_a.flush()
    in_a.rollback()
    assert snapshot(b.tenant_id) == before


def test_flush_moving_a_branch_b_row_into_branch_a_raises(in_a, branches):
    a, b = branches
    before = snapshot(b.tenant_id)
    stray = b.members[0]
    in_a.add(stray)
    stray.tenant_id = a.tenant_id  # re-keying B's row to A would take it from B
    stray.party_group_id = a.group.id
    with pytest.raises(CrossTenantWrite):
        in_a.flush()
    in_a.rollback()
    assert snapshot(b.tenant_id) == before


def test_flush_moving_a_branch_a_row_to_branch_b_raises(in_a, branches):
    a, b = branches
    own = in_a.get(Member, (a.tenant_id, a.members[0].id))
    own.tenant_id = b.tenant_id
    own.party_group_id = None
    with pytest.raises(CrossTenantWrite):
        in_a.flush()
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_new_row_without_tenant_gets_the_context_tenant(in_a, branches):
    a, _ = branches
    group = PartyGroup(name="新党小组")
    member = Member(**member_fields("新人"))
    in_a.add_all([group, member])
    in_a.flush()
    assert group.tenant_id == a.tenant_id
    assert member.tenant_id == a.tenant_id
    in_a.commit()
    assert snapshot(a.tenant_id)[member.id][0] == "新人"


# the zone context


@pytest.fixture
def in_zone(db_session, branches):
    bind_context(db_session, Context.zone())
    return db_session


def test_zone_context_reads_every_branch(in_zone, branches):
    a, b = branches
    ours = Member.tenant_id.in_([a.tenant_id, b.tenant_id])
    seen = set(in_zone.scalars(select(Member.id).where(ours)))
    assert seen == a.member_ids | b.member_ids
    counts = dict(
        in_zone.execute(
            select(Member.tenant_id, func.count()).where(ours).group_by(Member.tenant_id)
        ).all()
    )
    assert counts == {a.tenant_id: len(a.members), b.tenant_id: len(b.members)}
    assert in_zone.get(Member, (b.tenant_id, b.members[0].id)) is not None


def test_zone_context_cannot_insert_update_or_delete_through_a_flush(in_zone, branches):
    a, b = branches
    before = snapshot(b.tenant_id)
    in_zone.add(Member(tenant_id=a.tenant_id, **member_fields("上级")))
    with pytest.raises(TenancyError):
        in_zone.flush()
    in_zone.rollback()
    loaded = in_zone.get(Member, (b.tenant_id, b.members[0].id))
    loaded.notes = "上级改"
    with pytest.raises(TenancyError):
        in_zone.flush()
    in_zone.rollback()
    in_zone.delete(in_zone.get(Member, (b.tenant_id, b.members[1].id)))
    with pytest.raises(TenancyError):
        in_zone.flush()
    in_zone.rollback()
    assert snapshot(b.tenant_id) == before


def test_zone_context_cannot_run_write_statements(in_zone, branches):
    a, b = branches
    before = snapshot(b.tenant_id)
    row = bulk_row(a.tenant_id, "上级")
    for statement, params in (
        (update(Member).values(notes="上级改"), None),
        (delete(Member), None),
        (insert(Member), [row]),
    ):
        with pytest.raises(CrossTenantWrite):
            in_zone.execute(statement, params)
        in_zone.rollback()
    assert snapshot(b.tenant_id) == before


# Core statements and bulk inserts in branch A's context


@pytest.mark.parametrize(
    "statement",
    [
        select(Member.__table__),
        select(func.count()).select_from(Member.__table__),
        update(Member.__table__).values(notes="核心"),
        delete(Member.__table__),
        select(Member.id).join(
            PartyGroup.__table__, PartyGroup.__table__.c.id == Member.party_group_id
        ),
    ],
    ids=["select", "count", "update", "delete", "join"],
)
def test_core_statement_on_a_tenant_table_raises_in_a_tenant_context(in_a, branches, statement):
    b = branches[1]
    before = snapshot(b.tenant_id)
    with pytest.raises(NoTenantContext):
        in_a.execute(statement)
    in_a.rollback()
    assert snapshot(b.tenant_id) == before


def test_orm_bulk_insert_with_another_tenant_id_raises(in_a, branches):
    a, b = branches
    rows = [bulk_row(a.tenant_id, "甲三"), bulk_row(b.tenant_id, "乙四")]
    with pytest.raises(CrossTenantWrite):
        in_a.execute(insert(Member), rows)
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)
    assert len(snapshot(a.tenant_id)) == len(a.members)


def test_orm_bulk_insert_with_inline_values_raises(in_a, branches):
    b = branches[1]
    with pytest.raises(CrossTenantWrite):
        in_a.execute(insert(Member).values(bulk_row(b.tenant_id, "乙四")))
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_orm_bulk_insert_of_own_rows_is_accepted(in_a, branches):
    a, _ = branches
    rows = [bulk_row(a.tenant_id, "甲三"), bulk_row(a.tenant_id, "甲四")]
    in_a.execute(insert(Member), rows)
    in_a.commit()
    assert {r["id"] for r in rows} <= set(snapshot(a.tenant_id))


# INSERT … SELECT in branch A's context (the zone recompute writes a branch's rows this way)


def tenant_parameter(name: str = "tenant_id"):
    return bindparam(name, type_=Member.__table__.c.tenant_id.type)


def member_selection(tenant, *where, name: str = "甲五"):
    """INSERT … SELECT of one member whose tenant comes from `tenant` (a column expression)."""
    table = Member.__table__
    return insert(table).from_select(
        ["tenant_id", "id", "version", "name", "gender", "category"],
        select(
            tenant,
            literal(uuid.uuid4(), table.c.id.type),
            literal(1),
            literal(name),
            literal(Gender.FEMALE, table.c.gender.type),
            literal(Category.WORKER, table.c.category.type),
        ).where(*where),
    )


def test_insert_select_of_own_member_from_a_parameter_is_accepted(in_a, branches):
    a, _ = branches
    in_a.execute(member_selection(tenant_parameter()), {"tenant_id": a.tenant_id})
    in_a.commit()
    assert len(snapshot(a.tenant_id)) == len(a.members) + 1


def test_insert_select_naming_branch_b_in_its_parameter_raises(in_a, branches):
    b = branches[1]
    with pytest.raises(CrossTenantWrite, match="another tenant"):
        in_a.execute(member_selection(tenant_parameter()), {"tenant_id": b.tenant_id})
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_insert_select_with_a_decoy_tenant_parameter_raises(in_a, branches):
    """A parameter named `tenant_id` holding A does not make B's tenant, fed by another one,
    acceptable: the check follows the tenant column to its own parameter."""
    a, b = branches
    with pytest.raises(CrossTenantWrite, match="another tenant"):
        in_a.execute(
            member_selection(tenant_parameter("owner")),
            {"tenant_id": a.tenant_id, "owner": b.tenant_id},
        )
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_insert_select_taking_the_tenant_from_a_column_raises(in_a, branches):
    a, b = branches
    statement = member_selection(Tenant.id, Tenant.id == b.tenant_id)
    with pytest.raises(CrossTenantWrite, match="from a parameter"):
        in_a.execute(statement, {"tenant_id": a.tenant_id})
    in_a.rollback()
    assert len(snapshot(b.tenant_id)) == len(b.members)


def test_insert_select_reading_branch_b_members_raises(in_a, branches):
    """The loader criteria do not reach inside an INSERT: copying rows out of a tenant-owned
    table (B's, unfiltered) is refused whoever the rows are written for."""
    a, b = branches
    table = Member.__table__
    statement = insert(table).from_select(
        ["tenant_id", "id", "version", "name", "gender", "category"],
        select(
            tenant_parameter(),
            table.c.id,
            literal(1),
            table.c.name,
            table.c.gender,
            table.c.category,
        ).where(table.c.tenant_id == b.tenant_id),
    )
    with pytest.raises(CrossTenantWrite, match="may not read tenant data"):
        in_a.execute(statement, {"tenant_id": a.tenant_id})
    in_a.rollback()
    assert len(snapshot(a.tenant_id)) == len(a.members)


# textual SQL: the layer cannot see its tables, so a session refuses it in every context


@pytest.mark.parametrize(
    "context",
    [None, Context.system(), "a", Context.zone()],
    ids=["no-context", "system", "branch-a", "zone"],
)
def test_textual_sql_through_a_session_is_refused_in_every_context(db_session, branches, context):
    """On SQLite nothing else would stop it: `SELECT … FROM members` read every branch."""
    if context == "a":
        context = Context.tenant(branches[0].tenant_id)
    if context is not None:
        bind_context(db_session, context)
    with pytest.raises(UncheckedSQL):
        db_session.execute(text("SELECT name FROM members"))
    db_session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        select(Member.name).where(text("1 = 1")),
        select(literal_column("name")).select_from(text("members")),
        select(Member.name).where(
            Member.id.in_(select(literal_column("id")).select_from(text("members")))
        ),
    ],
    ids=["where", "from", "subquery"],
)
def test_a_text_fragment_inside_an_orm_statement_is_refused(in_a, branches, statement):
    with pytest.raises(UncheckedSQL):
        in_a.execute(statement)
    in_a.rollback()


def test_textual_sql_on_the_sessions_connection_is_the_deliberate_way(in_a, branches):
    """Infrastructure SQL still runs, on the connection of the session's transaction."""
    assert in_a.connection().execute(text("SELECT 1")).scalar() == 1
