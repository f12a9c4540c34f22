"""The demo zone: branches of different sizes and industries, with members and party groups and
a year of activities and attendance up to today, and the demo users the development login
offers. Deterministic: the same zone every time (its activities: the same on the same day)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activities.models import Activity, Attendance
from service.audit.recorder import set_actor
from service.members import service as members
from service.members.models import Category, Education, Gender, Member, PartyGroup, PartyStatus
from service.zone_generator import (
    ETHNICITIES,
    GIVEN_NAMES,
    SURNAMES,
    BranchHabits,
    RosterEntry,
    RowIds,
    bulk_insert,
    id_card_number,
    plan_activities,
    record_bulk_load,
    zone_today,
)
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.registry import EnterpriseType, OrganizationType, Tenant

DEMO_ACTOR = {"iss": None, "sub": "demo-seed", "name": "演示数据"}


@dataclass(frozen=True)
class DemoBranch:
    slug: str
    name: str
    enterprise_name: str
    enterprise_type: EnterpriseType
    industry: str
    employee_count: int
    organization_type: OrganizationType
    party_members: int
    league_members: int
    workers: int
    party_groups: tuple[str, ...] = ()


DEMO_BRANCHES = (
    DemoBranch(
        "hengtong-optics",
        "亨通光电党委",
        "江苏亨通光电股份有限公司",
        EnterpriseType.PRIVATE,
        "通信设备制造",
        3200,
        OrganizationType.COMMITTEE,
        120,
        60,
        40,
        ("第一党小组", "第二党小组", "第三党小组", "研发党小组"),
    ),
    DemoBranch(
        "jinhe-chemical",
        "金禾化工党总支",
        "金禾精细化工有限公司",
        EnterpriseType.PRIVATE,
        "精细化工",
        860,
        OrganizationType.GENERAL_BRANCH,
        48,
        20,
        25,
        ("生产党小组", "安环党小组"),
    ),
    DemoBranch(
        "bosch-auto-parts",
        "博世汽车部件党支部",
        "博世汽车部件（苏州）有限公司",
        EnterpriseType.FOREIGN_FUNDED,
        "汽车零部件",
        1500,
        OrganizationType.BRANCH,
        36,
        18,
        20,
        ("装配党小组", "质量党小组"),
    ),
    DemoBranch(
        "sino-jp-logistics",
        "中日物流党支部",
        "中日联合物流有限公司",
        EnterpriseType.JOINT_VENTURE,
        "现代物流",
        420,
        OrganizationType.BRANCH,
        17,
        9,
        12,
    ),
    DemoBranch(
        "yunchuang-software",
        "云创软件党支部",
        "云创软件科技有限公司",
        EnterpriseType.PRIVATE,
        "软件和信息技术服务",
        180,
        OrganizationType.BRANCH,
        11,
        14,
        6,
    ),
    DemoBranch(
        "lvyuan-food",
        "绿源食品党支部",
        "绿源食品有限公司",
        EnterpriseType.PRIVATE,
        "食品加工",
        95,
        OrganizationType.BRANCH,
        6,
        3,
        8,
    ),
    DemoBranch(
        "tianli-textile",
        "天利纺织党支部",
        "天利纺织有限公司",
        EnterpriseType.OTHER,
        "纺织服装",
        260,
        OrganizationType.BRANCH,
        9,
        4,
        10,
    ),
)


@dataclass(frozen=True)
class DemoUser:
    key: str
    name: str
    description: str
    groups: tuple[str, ...]


def demo_users(branches: list[Tenant]) -> list[DemoUser]:
    """The people the development login offers: committee staff, and per branch a secretary
    and a member."""
    users = [
        DemoUser("zone-admin", "王建国", "工委管理员（可登记支部）", ("pmsc:zone:admin",)),
        DemoUser("zone-viewer", "李晓梅", "工委工作人员（只读）", ("pmsc:zone:viewer",)),
    ]
    for branch in branches:
        users.append(
            DemoUser(
                f"{branch.slug}-secretary",
                f"{branch.name}书记",
                "支部书记（管理员）",
                (f"pmsc:branch:{branch.slug}:admin",),
            )
        )
        users.append(
            DemoUser(
                f"{branch.slug}-member",
                f"{branch.name}党员",
                "支部党员",
                (f"pmsc:branch:{branch.slug}:member",),
            )
        )
    return users


def _birth(rng: random.Random, youngest: int, oldest: int) -> date:
    today = date(2026, 1, 1)
    return today - timedelta(days=rng.randrange(youngest * 365, oldest * 365))


def _member_fields(rng: random.Random, category: Category, position: str | None) -> dict:
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    birth = _birth(rng, 19, 27) if category == Category.LEAGUE_MEMBER else _birth(rng, 22, 60)
    fields = {
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
        "gender": gender,
        "birth_date": birth,
        "ethnicity": rng.choice(ETHNICITIES),
        "education": rng.choice(list(Education)[2:]),
        "phone": f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
        "id_card_number": id_card_number(rng, birth, gender),
        "category": category,
        "position": position,
    }
    if category == Category.PARTY_MEMBER:
        joined = birth.replace(year=birth.year + 18 + rng.randrange(0, 12))
        probationary = rng.random() < 0.12
        fields["party_status"] = PartyStatus.PROBATIONARY if probationary else PartyStatus.FULL
        fields["joined_party_date"] = min(joined, date(2024, 6, 1))
        if not probationary:
            fields["full_membership_date"] = fields["joined_party_date"] + timedelta(days=366)
    return fields


def seed_branch(session: Session, branch: DemoBranch) -> Tenant:
    """Register one demo branch and fill its roster."""
    return _seed_roster(session, branch)[0]


def _seed_roster(
    session: Session, branch: DemoBranch
) -> tuple[Tenant, list[PartyGroup], list[Member]]:
    set_actor(session, DEMO_ACTOR)
    bind_context(session, Context.system())
    tenant = provisioning.create_tenant(
        session,
        slug=branch.slug,
        name=branch.name,
        enterprise_name=branch.enterprise_name,
        enterprise_type=branch.enterprise_type,
        industry=branch.industry,
        employee_count=branch.employee_count,
        organization_type=branch.organization_type,
    )
    bind_context(session, Context.tenant(tenant.id))
    groups = [
        members.save_party_group(session, tenant_id=tenant.id, group=None, fields={"name": name})
        for name in branch.party_groups
    ]
    rng = random.Random(branch.slug)  # noqa: S311 - demo data, not secrets
    plan = (
        [Category.PARTY_MEMBER] * branch.party_members
        + [Category.LEAGUE_MEMBER] * branch.league_members
        + [Category.WORKER] * branch.workers
    )
    roster = []
    for index, category in enumerate(plan):
        position = {0: "支部书记", 1: "组织委员", 2: "宣传委员"}.get(index)
        fields = _member_fields(rng, category, position)
        if groups and category == Category.PARTY_MEMBER:
            fields["party_group_id"] = groups[index % len(groups)].id
        roster.append(members.create_member(session, tenant_id=tenant.id, fields=fields))
    return tenant, groups, roster


# How each demo branch runs its party life: deliberately different, so the zone's rankings
# have a leader, a middle and a tail (the synthetic zone draws these at random instead).
DEMO_HABITS = {
    "hengtong-optics": BranchHabits(diligence=0.95, turnout=0.9, liveliness=1.3),
    "jinhe-chemical": BranchHabits(diligence=0.8, turnout=0.82, liveliness=0.9),
    "bosch-auto-parts": BranchHabits(diligence=1.0, turnout=0.95, liveliness=1.0),
    "sino-jp-logistics": BranchHabits(diligence=0.65, turnout=0.75, liveliness=0.6),
    "yunchuang-software": BranchHabits(diligence=0.85, turnout=0.88, liveliness=1.5),
    "lvyuan-food": BranchHabits(diligence=0.5, turnout=0.65, liveliness=0.5),
    "tianli-textile": BranchHabits(diligence=0.72, turnout=0.7, liveliness=0.8),
}
_USUAL = BranchHabits(diligence=0.85, turnout=0.85, liveliness=1.0)


def seed_branch_activities(
    session: Session,
    tenant: Tenant,
    groups: list[PartyGroup],
    roster: list[Member],
    *,
    today: date | None = None,
) -> int:
    """A year of the branch's activities up to `today` and attendance at those held; returns
    how many activities.

    Planned like the synthetic zone's (`service.zone_generator`, whose rules the tests check)
    and bulk-inserted the same way, in the branch's context, with one audit event for the load:
    through the activity service, with an event per row, it took `make run` 8 s more."""
    bind_context(session, Context.tenant(tenant.id))
    today = today or zone_today()
    plan, attendance = plan_activities(
        random.Random(f"{tenant.slug}:activities"),  # noqa: S311 - demo data, not secrets
        RowIds(random.Random(f"{tenant.slug}:ids")),  # noqa: S311
        tenant_id=tenant.id,
        roster=[
            RosterEntry(m.id, m.category, m.party_group_id, m.position is not None) for m in roster
        ],
        groups=[(g.id, g.name) for g in groups],
        habits=DEMO_HABITS.get(tenant.slug, _USUAL),
        today=today,
    )
    written = {
        "activities": bulk_insert(session, Activity, plan),
        "attendance": bulk_insert(session, Attendance, attendance),
    }
    facts = {"source": "demo zone", "as_of": today.isoformat(), **written}
    record_bulk_load(session, tenant_id=tenant.id, slug=tenant.slug, facts=facts)
    return len(plan)


def seed_demo_zone(session: Session, *, today: date | None = None) -> list[str]:
    """Register every demo branch not yet registered, with its roster and a year of activities
    up to `today` (default: today in the zone); returns the slugs it added."""
    existing = set(session.scalars(select(Tenant.slug)))
    added = []
    for branch in DEMO_BRANCHES:
        if branch.slug not in existing:
            tenant, groups, roster = _seed_roster(session, branch)
            seed_branch_activities(session, tenant, groups, roster, today=today)
            bind_context(session, Context.system())
            added.append(branch.slug)
    return added
