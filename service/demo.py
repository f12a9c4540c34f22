"""The demo zone: branches of different sizes and industries, with members and party groups,
and the demo users the development login offers. Deterministic: the same zone every time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.recorder import set_actor
from service.members import service as members
from service.members.models import Category, Education, Gender, PartyStatus
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


_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
    "邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
)
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "文",
    "辉",
    "玲",
    "鹏",
    "晨",
    "婷",
    "宇",
    "浩",
    "欣怡",
    "子涵",
    "志强",
    "海燕",
    "红梅",
    "建军",
    "晓东",
    "雪",
    "琳",
)
_ETHNICITIES = ("汉族",) * 18 + ("回族", "满族", "蒙古族", "壮族")
_REGION_CODES = ("320505", "320506", "320571", "320583", "340104", "370202", "410105")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_card(rng: random.Random, birth: date, gender: Gender) -> str:
    sequence = rng.randrange(0, 100) * 10 + rng.randrange(0, 5) * 2 + (gender == Gender.MALE)
    body = f"{rng.choice(_REGION_CODES)}{birth:%Y%m%d}{sequence:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _birth(rng: random.Random, youngest: int, oldest: int) -> date:
    today = date(2026, 1, 1)
    return today - timedelta(days=rng.randrange(youngest * 365, oldest * 365))


def _member_fields(rng: random.Random, category: Category, position: str | None) -> dict:
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    birth = _birth(rng, 19, 27) if category == Category.LEAGUE_MEMBER else _birth(rng, 22, 60)
    fields = {
        "name": rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        "gender": gender,
        "birth_date": birth,
        "ethnicity": rng.choice(_ETHNICITIES),
        "education": rng.choice(list(Education)[2:]),
        "phone": f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
        "id_card_number": _id_card(rng, birth, gender),
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
    for index, category in enumerate(plan):
        position = {0: "支部书记", 1: "组织委员", 2: "宣传委员"}.get(index)
        fields = _member_fields(rng, category, position)
        if groups and category == Category.PARTY_MEMBER:
            fields["party_group_id"] = groups[index % len(groups)].id
        members.create_member(session, tenant_id=tenant.id, fields=fields)
    return tenant


def seed_demo_zone(session: Session) -> list[str]:
    """Register every demo branch not yet registered; returns the slugs it added."""
    existing = set(session.scalars(select(Tenant.slug)))
    added = []
    for branch in DEMO_BRANCHES:
        if branch.slug not in existing:
            seed_branch(session, branch)
            added.append(branch.slug)
    return added
