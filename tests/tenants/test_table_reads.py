"""Tenant isolation on the compiled read path (`tenants.table_reads`), the branch list
endpoints' way to their tables. Branches A and B are seeded and committed as in the ORM
isolation tests; reads run in A's context (or none, or the zone's). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import bindparam, inspect, select, text

from service.access import service as access
from service.access.models import User
from service.members.models import Category, Member, PartyGroup
from service.members.service import MEMBER_PAGES, MemberFilters, create_member, list_members
from service.spaces import BRANCH_BY_SLUG
from tenants.context import Context
from tenants.errors import NoTenantContext, UncheckedSQL
from tenants.isolation import bind_context
from tenants.registry import Tenant, TenantStatus
from tenants.table_reads import TableRecord, TenantTableRead, ZoneTableLookup
from tests.tenants.rosters import member_fields


def _ids(records) -> set[uuid.UUID]:
    return {r.id for r in records}


def test_branch_a_lists_only_its_own_members(in_a, branches):
    a, _b = branches
    found, total = list_members(
        in_a, tenant_id=a.tenant_id, filters=MemberFilters(), offset=0, limit=50
    )
    assert _ids(found) == a.member_ids
    assert total == 2


def test_asking_for_branch_b_members_in_branch_a_context_raises(in_a, branches):
    _a, b = branches
    with pytest.raises(NoTenantContext):
        list_members(in_a, tenant_id=b.tenant_id, filters=MemberFilters(), offset=0, limit=50)


@pytest.mark.parametrize(
    "context", [None, Context.system(), Context.zone()], ids=["no-context", "system", "zone"]
)
def test_a_table_read_outside_a_tenant_context_raises(db_session, branches, context):
    if context is not None:
        db_session.info["pmsc.zone_role"] = "pmsc_zone"  # the zone context's role, if asked
        bind_context(db_session, context)
    with pytest.raises(NoTenantContext):
        MEMBER_PAGES.page(db_session, tenant_id=branches[0].tenant_id, where={}, offset=0, limit=5)


def test_a_condition_reading_another_table_is_refused(in_a, branches):
    groups = PartyGroup.__table__
    read = TenantTableRead(
        Member,
        order_by=lambda t: (t.c.id,),
        conditions={
            "grouped": lambda t: t.c.party_group_id.in_(
                select(groups.c.id).where(groups.c.name != bindparam("grouped"))
            )
        },
    )
    with pytest.raises(NoTenantContext):
        read.page(in_a, tenant_id=branches[0].tenant_id, where={"grouped": "x"}, offset=0, limit=5)


@pytest.mark.parametrize(
    ("condition", "refusal"),
    [
        (lambda t: text("1 = 1 OR :unsafe = ''"), UncheckedSQL),  # its tables are unknown
        # a value written into a condition would be compiled into the shape and reused
        (lambda t: t.c.name == "甲一", ValueError),
    ],
    ids=["textual", "carries-a-value"],
)
def test_a_condition_the_read_cannot_check_or_rebind_is_refused(in_a, branches, condition, refusal):
    read = TenantTableRead(Member, order_by=lambda t: (t.c.id,), conditions={"unsafe": condition})
    with pytest.raises(refusal):
        read.page(in_a, tenant_id=branches[0].tenant_id, where={"unsafe": ""}, offset=0, limit=5)


def test_the_tenant_parameter_cannot_be_a_condition_and_unknown_conditions_raise(in_a, branches):
    with pytest.raises(ValueError, match="may not be named"):
        TenantTableRead(
            Member,
            order_by=lambda t: (t.c.id,),
            conditions={"pmsc_tenant": lambda t: t.c.tenant_id == bindparam("pmsc_tenant")},
        )
    with pytest.raises(ValueError, match="no condition named"):
        MEMBER_PAGES.page(
            in_a,
            tenant_id=branches[0].tenant_id,
            where={"pmsc_tenant": branches[1].tenant_id},
            offset=0,
            limit=5,
        )


def test_a_table_that_is_not_tenant_owned_is_refused():
    with pytest.raises(TypeError):
        TenantTableRead(Tenant, order_by=lambda t: (t.c.id,), conditions={})


def test_records_hold_what_the_entity_holds_and_are_read_only(in_a, branches):
    a, _b = branches
    member = create_member(
        in_a,
        tenant_id=a.tenant_id,
        fields=member_fields("甲三", phone="13800138000", category=Category.LEAGUE_MEMBER),
    )
    found, _total = list_members(
        in_a, tenant_id=a.tenant_id, filters=MemberFilters(name="甲三"), offset=0, limit=5
    )
    (record,) = found
    assert isinstance(record, TableRecord)
    for attribute in inspect(Member).column_attrs:
        assert getattr(record, attribute.key) == getattr(member, attribute.key), attribute.key
    assert record.phone == "13800138000"  # decrypted, as the entity reads it
    assert record.category is Category.LEAGUE_MEMBER
    assert record.created_at.utcoffset() is not None
    with pytest.raises(AttributeError):
        record.name = "改名"


def test_a_read_runs_in_the_session_transaction_and_sees_its_pending_work(in_a, branches):
    a, _b = branches
    create_member(in_a, tenant_id=a.tenant_id, fields=member_fields("甲四"))  # flushed only
    in_a.add(Member(tenant_id=a.tenant_id, **member_fields("甲五")))  # not even flushed
    found, total = list_members(
        in_a, tenant_id=a.tenant_id, filters=MemberFilters(), offset=0, limit=50
    )
    assert {"甲四", "甲五"} <= {r.name for r in found}
    assert total == 4


def test_filters_and_pages_bind_their_values_each_call(in_a, branches):
    a, _b = branches
    for name in ("100%合格", "100分"):
        create_member(in_a, tenant_id=a.tenant_id, fields=member_fields(name))

    def names(**filters) -> tuple[list[str], int]:
        found, total = list_members(
            in_a, tenant_id=a.tenant_id, filters=MemberFilters(**filters), offset=0, limit=50
        )
        return [r.name for r in found], total

    # the same shape (a name filter) with other values: each call's own value is used
    assert names(name="100%") == (["100%合格"], 1)  # "%" is a character, not a wildcard
    assert names(name="甲") == (["甲一", "甲二"], 2)
    assert names(category=Category.OTHER) == ([], 0)
    page, total = list_members(
        in_a, tenant_id=a.tenant_id, filters=MemberFilters(), offset=1, limit=2
    )
    assert total == 4 and len(page) == 2


# --- zone-level lookups: the account and the branch every request starts from ---------------


def test_a_lookup_of_a_tenant_owned_table_or_by_a_key_that_is_not_unique_is_refused():
    with pytest.raises(TypeError, match="tenant-owned"):
        ZoneTableLookup(Member, key=("id",))
    with pytest.raises(ValueError, match="not a unique key"):
        ZoneTableLookup(Tenant, key=("name",))
    with pytest.raises(ValueError, match="not a unique key"):
        ZoneTableLookup(User, key=("issuer",))  # unique only together with the subject


def test_a_branch_found_by_slug_holds_what_the_entity_holds_in_any_context(db_session, make_branch):
    branch = make_branch(status=TenantStatus.SUSPENDED)
    other = make_branch()
    entity = db_session.get(Tenant, branch.id)
    for context in (None, Context.tenant(other.id)):
        if context is not None:
            bind_context(db_session, context)
        record = BRANCH_BY_SLUG.one(db_session, slug=branch.slug)
        for attribute in inspect(Tenant).column_attrs:
            assert getattr(record, attribute.key) == getattr(entity, attribute.key)
        assert record.status is TenantStatus.SUSPENDED
        assert record.created_at.utcoffset() is not None
    assert BRANCH_BY_SLUG.one(db_session, slug="no-such-branch") is None
    with pytest.raises(AttributeError):
        record.status = TenantStatus.ACTIVE


def test_a_lookup_names_exactly_its_key_and_sees_the_session_pending_work(db_session):
    with pytest.raises(ValueError, match="names"):
        BRANCH_BY_SLUG.one(db_session, slug="a-branch", name="甲")
    user = access.upsert_user(
        db_session,
        issuer="https://idp.example",
        subject="person-1",
        name="张三",
        username=None,
        email=None,
        groups=[],
    )  # flushed, not committed: the lookup runs in the same transaction
    found = access.user_id_by_identity(db_session, issuer="https://idp.example", subject="person-1")
    assert found == user.id
    other = access.user_id_by_identity(
        db_session, issuer="https://other.example", subject="person-1"
    )
    assert other is None
