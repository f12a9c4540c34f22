"""The synthetic zone: branches with skewed sizes, their rosters and party groups, and a year of
activities and attendance, generated from a seed and loaded with bulk inserts
(`pmsc demo --size small|medium|large`). For load tests and benchmarks, not for people.

Deterministic: the same seed and the same day (in the zone's calendar) give the same zone, the
ids of tenant-owned rows included (tenant ids come from provisioning); each branch draws from
its own random stream, so one branch never shifts another.

How it writes, and why:

* **One transaction**: `load_zone` never commits; a failed load leaves nothing behind, and a
  second load under the same slug prefix is refused rather than half-merged.
* **Tenants** are registered with `tenants.provisioning.create_tenant` in the system context,
  like every other tenant, so each gets its zone audit event.
* **Tenant-owned rows** go in with batched Core `INSERT`s through the session, bound to each
  branch's tenant context in turn (`bulk_insert`): the isolation hook checks every row's
  `tenant_id` and refuses rows outside a tenant context, and on PostgreSQL row-level security
  checks each row again against `pmsc.tenant_id`, which `bind_context` sets inside the running
  transaction. `COPY` is not an option: PostgreSQL refuses `COPY FROM` into a table with
  row-level security, and loading as a role that bypasses it would weaken the very isolation the
  zone is generated to exercise.
* **Audit**: the flush hook that audits each row does not see bulk inserts, and that is kept so:
  per-row events would double a `large` load (2 million more rows) to record writes no person
  made. Instead each branch's audit log gets one event (object type `bulk_load`) naming the
  session's actor, the seed, the size and the rows written, so the bulk write is on the record.
* **Personal data**: phones and ID-card numbers are encrypted like any member's (the column type
  encrypts on insert); Fernet costs about 15 µs a value, a few seconds for a `large` zone.
* **Rollups** are not computed and no outbox work is recorded: the caller runs
  `pmsc rollups recompute`, after `refresh_statistics` (fresh tables mislead the planner).

The rules of `service.members.service` and `service.activities.service` hold for every row:
party fields only for party members (joined at 18 or older, full members a year after joining),
ID-card numbers matching birth date and gender, topics and festivals only on their kinds, `held`
only for activities that started before today, attendance only for held activities and only of
the branch's own members, an excused absence always with a reason.
"""

from __future__ import annotations

import calendar
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.activities.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    ConsultationTopic,
    Festival,
    TrainingTopic,
)
from service.activities.training import ZONE_TIME
from service.audit.models import TenantAuditEvent
from service.audit.recorder import ACTOR_KEY
from service.members.models import Category, Education, Gender, Member, PartyGroup, PartyStatus
from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context, current_context
from tenants.orm import escape_like
from tenants.registry import EnterpriseType, OrganizationType, Tenant

DEFAULT_SEED = 1921
GENERATOR_ACTOR = {"iss": None, "sub": "zone-generator", "name": "合成数据"}
TYPICAL_BRANCH = (20, 80)  # members: most branches are this size
MID_BRANCH = (81, 999)
HUGE_BRANCH = (1_001, 2_500)
BATCH_ROWS = 5_000  # rows per INSERT round: bounds memory and statement size


@dataclass(frozen=True)
class ZoneSize:
    """How big a synthetic zone is: branches, members in all, and how many are huge."""

    name: str
    branches: int
    members: int
    huge_branches: int  # branches of more than 1,000 members


SIZES = {
    size.name: size
    for size in (
        ZoneSize("small", 20, 2_000, 0),
        ZoneSize("medium", 200, 20_000, 2),
        ZoneSize("large", 2_000, 200_000, 20),
    )
}


# --- people ---------------------------------------------------------------------------------------

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯"
    "邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN_NAMES = (
    *("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"),
    *("涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "辉", "玲", "鹏"),
    *("晨", "婷", "宇", "浩", "欣怡", "子涵", "志强", "海燕", "红梅", "建军", "晓东", "雪", "琳"),
)
ETHNICITIES = ("汉族",) * 18 + ("回族", "满族", "蒙古族", "壮族")
_REGION_CODES = ("320505", "320506", "320571", "320583", "340104", "370202", "410105")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_EDUCATIONS = tuple(Education)[2:]
_EDUCATION_WEIGHTS = (3, 2, 4, 6, 2, 1)


def person_name(rng: random.Random) -> str:
    """A plausible Chinese name."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def id_card_number(rng: random.Random, birth: date, gender: Gender) -> str:
    """A valid 18-character ID-card number (GB 11643) for this birth date and gender."""
    sequence = rng.randrange(0, 100) * 10 + rng.randrange(0, 5) * 2 + (gender == Gender.MALE)
    body = f"{rng.choice(_REGION_CODES)}{birth:%Y%m%d}{sequence:03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _days(years: float) -> int:
    return int(years * 365.25)


def member_fields(rng: random.Random, category: Category, today: date) -> dict[str, Any]:
    """A member's personal and party fields, valid by the roster's rules as of `today`."""
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    youngest, oldest = (19, 28) if category == Category.LEAGUE_MEMBER else (22, 60)
    birth = today - timedelta(days=rng.randrange(_days(youngest), _days(oldest)))
    fields: dict[str, Any] = {
        "name": person_name(rng),
        "gender": gender,
        "birth_date": birth,
        "ethnicity": rng.choice(ETHNICITIES),
        "education": rng.choices(_EDUCATIONS, _EDUCATION_WEIGHTS)[0],
        "phone": f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
        "id_card_number": id_card_number(rng, birth, gender),
        "category": category,
        "party_status": None,
        "joined_party_date": None,
        "full_membership_date": None,
    }
    if category == Category.PARTY_MEMBER:
        if rng.random() < 0.08:  # joined within the year: still probationary
            fields["party_status"] = PartyStatus.PROBATIONARY
            fields["joined_party_date"] = today - timedelta(days=rng.randrange(30, 360))
        else:
            # 18 years of 366 days: never before the 18th birthday, leap years or not
            earliest, latest = 18 * 366, (today - birth).days - 400
            joined = birth + timedelta(days=rng.randrange(earliest, latest))
            fields["party_status"] = PartyStatus.FULL
            fields["joined_party_date"] = joined
            fields["full_membership_date"] = joined + timedelta(days=365)
    return fields


# --- branch sizes and registry fields -------------------------------------------------------------


def branch_sizes(size: ZoneSize, seed: int) -> list[int]:
    """Each branch's member count: most 20–80, some up to 999, `huge_branches` over 1,000,
    summing to exactly `size.members`; shuffled so big branches are spread through the zone."""
    rng = random.Random(f"{seed}:sizes")  # noqa: S311 - synthetic data, not secrets
    typical_count = round(size.branches * 0.85)
    mid_count = size.branches - typical_count - size.huge_branches
    typical = [rng.randint(*TYPICAL_BRANCH) for _ in range(typical_count)]
    huge = [rng.randint(*HUGE_BRANCH) for _ in range(size.huge_branches)]
    # log-uniform: many branches near 100 members, few near 1,000
    low, high = math.log(MID_BRANCH[0]), math.log(MID_BRANCH[1])
    raw = [math.exp(rng.uniform(low, high)) for _ in range(mid_count)]
    left = size.members - sum(typical) - sum(huge)
    scale = left / sum(raw) if raw else 0
    mid = [min(MID_BRANCH[1], max(MID_BRANCH[0], round(x * scale))) for x in raw]
    sizes = mid + huge + typical
    bounds = [MID_BRANCH] * mid_count + [(HUGE_BRANCH[0], 5_000)] * len(huge)
    bounds += [TYPICAL_BRANCH] * typical_count
    missing = size.members - sum(sizes)
    for index, (lowest, highest) in enumerate(bounds):  # rounding and clamping leave a rest
        step = max(lowest - sizes[index], min(highest - sizes[index], missing))
        sizes[index] += step
        missing -= step
        if not missing:
            break
    if missing:
        raise ValueError(f"{size.members} members do not fit {size.branches} branches")
    rng.shuffle(sizes)
    return sizes


_INDUSTRIES = (
    ("通信设备制造", "通信"),
    ("精细化工", "化工"),
    ("汽车零部件", "汽车部件"),
    ("现代物流", "物流"),
    ("软件和信息技术服务", "软件"),
    ("食品加工", "食品"),
    ("纺织服装", "纺织"),
    ("生物医药", "医药"),
    ("集成电路", "微电子"),
    ("精密机械", "精密机械"),
    ("新材料", "新材料"),
    ("电子商务", "电商"),
    ("建筑设计", "建筑设计"),
    ("新能源", "新能源"),
    ("金融服务", "金融服务"),
    ("检验检测", "检测技术"),
)
_NAME_PARTS = "华中新恒瑞博金天宏嘉永盛科达远通利明德信鑫泰海汇东方联创康源晟昌隆兴"
_CITIES = ("苏州", "江苏", "上海", "昆山", "太仓", "吴江", "常熟", "张家港")
_ENTERPRISE_TYPES = (
    (EnterpriseType.PRIVATE, 60),
    (EnterpriseType.FOREIGN_FUNDED, 20),
    (EnterpriseType.JOINT_VENTURE, 12),
    (EnterpriseType.OTHER, 8),
)
_ORGANIZATION_SUFFIX = {
    OrganizationType.BRANCH: "党支部",
    OrganizationType.GENERAL_BRANCH: "党总支",
    OrganizationType.COMMITTEE: "党委",
}


def registry_fields(rng: random.Random, *, slug: str, members: int) -> dict[str, Any]:
    """A branch's registry row (the fields `provisioning.create_tenant` takes)."""
    industry, short = rng.choice(_INDUSTRIES)
    brand = rng.choice(_NAME_PARTS) + rng.choice(_NAME_PARTS)
    kind = rng.choices(*zip(*_ENTERPRISE_TYPES, strict=True))[0]
    if members >= 500:
        organization = OrganizationType.COMMITTEE
    elif members >= 100:
        organization = OrganizationType.GENERAL_BRANCH
    else:
        organization = OrganizationType.BRANCH
    return {
        "slug": slug,
        "name": f"{brand}{short}{_ORGANIZATION_SUFFIX[organization]}",
        "enterprise_name": f"{rng.choice(_CITIES)}{brand}{short}有限公司",
        "enterprise_type": kind,
        "industry": industry,
        "employee_count": members * rng.randint(3, 25),
        "organization_type": organization,
    }


# --- rosters ------------------------------------------------------------------------------------


class RowIds:
    """Row ids in the UUIDv7 layout (the row's creation time first, like `tenants.orm.uuid7`),
    their random bits drawn from a seeded stream: the same seed gives the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def at(self, when: datetime) -> uuid.UUID:
        millis = int(when.timestamp() * 1000) & ((1 << 48) - 1)
        value = millis << 80 | self._rng.getrandbits(80)
        value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
        value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
        return uuid.UUID(int=value)


@dataclass(frozen=True)
class RosterEntry:
    """What activity planning needs to know of a member."""

    id: uuid.UUID
    category: Category
    party_group_id: uuid.UUID | None
    committee: bool  # sits on the branch committee (holds a position)


_CHINESE_DIGITS = "零一二三四五六七八九"


def chinese_ordinal(number: int) -> str:
    """1 → 一, 12 → 十二, 40 → 四十 (1 to 99)."""
    tens, ones = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CHINESE_DIGITS[tens] + "十")
    return head + (_CHINESE_DIGITS[ones] if ones else "")


_POSITIONS = ("组织委员", "宣传委员", "纪检委员", "青年委员")


def plan_roster(
    rng: random.Random,
    ids: RowIds,
    *,
    tenant_id: uuid.UUID,
    count: int,
    organization: OrganizationType,
    today: date,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[RosterEntry]]:
    """A branch's party groups and `count` members (insert rows), and its roster entries."""
    party = max(3, round(count * rng.uniform(0.3, 0.6)))
    league = min(count - party, round(count * rng.uniform(0.1, 0.3)))
    others = round((count - party - league) * 0.05)
    categories = (
        [Category.PARTY_MEMBER] * party
        + [Category.LEAGUE_MEMBER] * league
        + [Category.OTHER] * others
        + [Category.WORKER] * (count - party - league - others)
    )
    entered = datetime.combine(today - timedelta(days=400), datetime.min.time(), ZONE_TIME)
    group_count = 0 if party < 24 else min(30, party // 15)
    groups = []
    for number in range(1, group_count + 1):
        at = entered + timedelta(minutes=number)
        groups.append(
            {
                "tenant_id": tenant_id,
                "id": ids.at(at),
                "name": f"第{chinese_ordinal(number)}党小组",
                "notes": None,
                "created_at": at,
                "updated_at": at,
                "version": 1,
            }
        )
    secretary = {
        OrganizationType.BRANCH: "支部书记",
        OrganizationType.GENERAL_BRANCH: "总支书记",
        OrganizationType.COMMITTEE: "党委书记",
    }[organization]
    positions = (secretary, *_POSITIONS[: 2 if party < 7 else 4])
    members, roster = [], []
    for index, category in enumerate(categories):
        at = entered + timedelta(seconds=rng.randrange(0, 300 * 86_400))
        group_id = (
            groups[index % group_count]["id"]
            if group_count and category == Category.PARTY_MEMBER
            else None
        )
        position = positions[index] if index < len(positions) else None
        row = {
            "tenant_id": tenant_id,
            "id": ids.at(at),
            **member_fields(rng, category, today),
            "position": position,
            "party_group_id": group_id,
            "notes": None,
            "created_at": at,
            "updated_at": at,
            "version": 1,
        }
        members.append(row)
        roster.append(RosterEntry(row["id"], category, group_id, position is not None))
    return groups, members, roster


# --- activities and attendance ------------------------------------------------------------------


@dataclass(frozen=True)
class BranchHabits:
    """How a branch runs its party life; the spread between branches makes rankings differ."""

    diligence: float  # share of required meetings held
    turnout: float  # share of those expected who come
    liveliness: float  # how many other activities, around 1


def branch_habits(rng: random.Random) -> BranchHabits:
    """Habits skewed towards good ones: most branches hold most of their meetings."""
    return BranchHabits(
        diligence=round(1 - 0.5 * rng.random() ** 2, 3),
        turnout=round(0.97 - 0.37 * rng.random() ** 1.5, 3),
        liveliness=round(rng.uniform(0.4, 1.6), 3),
    )


_LECTURE_TOPICS = (
    "学习贯彻党的二十大精神",
    "新时代党员的初心使命",
    "党章党规党纪",
    "党史学习教育",
    "全面从严治党",
    "非公企业党建与企业发展",
)
_THEMES = ("重温入党誓词", "红色教育基地参观", "党员先锋岗评议", "学习身边榜样", "主题党日研讨")
_TRAINING_TITLES = {
    TrainingTopic.IDEOLOGY: "思想理论学习培训",
    TrainingTopic.PARTY_AFFAIRS: "党务工作实务培训",
    TrainingTopic.INDUSTRY: "产业发展专题培训",
    TrainingTopic.LAW: "法律法规知识培训",
}
_CONSULTATIONS = {
    ConsultationTopic.HEALTH: "职工健康义诊咨询",
    ConsultationTopic.PSYCHOLOGY: "心理健康咨询",
    ConsultationTopic.LAW: "法律咨询服务",
}
_FESTIVALS = {  # month held, title
    Festival.NEW_YEAR: (12, "迎新年文体联欢"),
    Festival.MAY_DAY: (4, "庆五一职工趣味运动会"),
    Festival.YOUTH_DAY: (5, "五四青年节主题活动"),
    Festival.NATIONAL_DAY: (9, "庆国庆歌咏比赛"),
}
_VOLUNTEERING = ("社区志愿服务", "无偿献血志愿活动", "敬老院志愿服务", "环境保护志愿行动")
_PLACES = ("党员活动室", "党群服务中心", "公司多功能厅", "会议室", "职工之家")
_ORGANIZERS = ("党支部", "工会", "团支部", "人力资源部")
_EXCUSES = ("出差", "病假", "年休假", "值班", "家中有事", "外出培训")
_STARTS = ((9, 0), (9, 30), (10, 0), (14, 0), (14, 30), (15, 0), (19, 0))
_HOURS = {  # kind → (duration in hours, study hours credited)
    ActivityKind.COMMITTEE_MEETING: (1.5, 0),
    ActivityKind.GENERAL_MEETING: (2, 2),
    ActivityKind.PARTY_LECTURE: (3, 3),
    ActivityKind.THEME_DAY: (3, 2),
    ActivityKind.GROUP_MEETING: (1.5, 1),
    ActivityKind.EXPERT_LECTURE: (2.5, 2.5),
    ActivityKind.CONSULTATION: (3, 0),
    ActivityKind.CULTURAL_SPORTS: (3, 0),
    ActivityKind.VOLUNTEER_SERVICE: (3, 0),
    ActivityKind.ANNUAL_EMPLOYEE_MEETING: (3, 0),
}
_ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)


def year_months(today: date) -> list[tuple[int, int]]:
    """The 12 months (year, month) of the zone's calendar ending with `today`'s."""
    index = today.year * 12 + today.month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - 11, index + 1)]


class _Planner:
    """Plans one branch's activities and attendance; see `plan_activities`."""

    def __init__(
        self,
        rng: random.Random,
        ids: RowIds,
        tenant_id: uuid.UUID,
        roster: Sequence[RosterEntry],
        groups: Sequence[tuple[uuid.UUID, str]],
        habits: BranchHabits,
        today: date,
    ) -> None:
        self.rng, self.ids, self.tenant_id, self.habits = rng, ids, tenant_id, habits
        self.today = today
        self.midnight = datetime.combine(today, datetime.min.time(), ZONE_TIME)
        self.everyone = [m.id for m in roster]
        self.party = [m.id for m in roster if m.category == Category.PARTY_MEMBER]
        self.league = [m.id for m in roster if m.category == Category.LEAGUE_MEMBER]
        self.committee = [m.id for m in roster if m.committee] or self.party[:3]
        self.groups = [
            (group_id, name, [m.id for m in roster if m.party_group_id == group_id])
            for group_id, name in groups
        ]
        self.activities: list[dict[str, Any]] = []
        self.attendance: list[dict[str, Any]] = []

    def day_in(self, year: int, month: int) -> datetime:
        day = self.rng.randint(1, calendar.monthrange(year, month)[1])
        hour, minute = self.rng.choice(_STARTS)
        return datetime(year, month, day, hour, minute, tzinfo=ZONE_TIME)

    def status(self, starts: datetime, chance: float) -> ActivityStatus | None:
        """Planned if not yet begun (today or later); else held with `chance`, otherwise
        cancelled or never recorded (None)."""
        if starts >= self.midnight:
            return ActivityStatus.PLANNED
        if self.rng.random() < chance:
            return ActivityStatus.HELD
        return ActivityStatus.CANCELLED if self.rng.random() < 0.4 else None

    def sample(self, pool: Sequence[uuid.UUID], low: float, high: float, cap: int) -> list:
        """A share between `low` and `high` of `pool`, at most `cap` (at least one)."""
        if not pool:
            return []
        wanted = min(cap, len(pool), max(1, round(len(pool) * self.rng.uniform(low, high))))
        return self.rng.sample(pool, wanted)

    def add(
        self,
        kind: ActivityKind,
        starts: datetime,
        title: str,
        expected: Sequence[uuid.UUID],
        *,
        chance: float = 0.96,
        hours: tuple[float, float] | None = None,
        **topic: Any,
    ) -> None:
        status = self.status(starts, chance)
        if status is None:
            return
        duration, study = hours or _HOURS[kind]
        ends = starts + timedelta(hours=duration)
        created = min(starts - timedelta(days=self.rng.randint(3, 20)), self.midnight)
        held = status == ActivityStatus.HELD
        updated = min(ends + timedelta(hours=2), self.midnight) if held else created
        activity_id = self.ids.at(created)
        summary = None
        if held:
            came = self.record_attendance(activity_id, expected, updated)
            summary = f"应到{len(expected)}人，实到{came}人。"
        self.activities.append(
            {
                "tenant_id": self.tenant_id,
                "id": activity_id,
                "kind": kind,
                "title": title,
                "consultation_topic": topic.get("consultation_topic"),
                "festival": topic.get("festival"),
                "training_topic": topic.get("training_topic"),
                "starts_at": starts.astimezone(UTC),
                "ends_at": ends.astimezone(UTC),
                "place": self.rng.choice(_PLACES),
                "organizer": self.rng.choice(_ORGANIZERS),
                "capacity": None,
                "status": status,
                "summary": summary,
                "study_hours": Decimal(str(study)),
                "created_at": created.astimezone(UTC),
                "updated_at": updated.astimezone(UTC),
                "version": 1,
            }
        )

    def record_attendance(
        self, activity_id: uuid.UUID, expected: Sequence[uuid.UUID], at: datetime
    ) -> int:
        """One record per expected member: present, late, excused (with a reason) or absent;
        returns how many came."""
        turnout, rng, came = self.habits.turnout, self.rng, 0
        present, excused = turnout * 0.9, turnout + (1 - turnout) * 0.6
        recorded = at.astimezone(UTC)
        for member_id in expected:
            draw = rng.random()
            reason = None
            if draw < present:
                status = AttendanceStatus.PRESENT
            elif draw < turnout:
                status = AttendanceStatus.LATE
            elif draw < excused:
                status, reason = AttendanceStatus.EXCUSED, rng.choice(_EXCUSES)
            else:
                status = AttendanceStatus.ABSENT
            came += status in _ATTENDED
            self.attendance.append(
                {
                    "tenant_id": self.tenant_id,
                    "id": self.ids.at(recorded),
                    "activity_id": activity_id,
                    "member_id": member_id,
                    "status": status,
                    "reason": reason,
                    "recorded_at": recorded,
                }
            )
        return came

    def plan(self) -> None:
        rng, habits, months = self.rng, self.habits, year_months(self.today)
        general_phase, lecture_phase = rng.randrange(3), rng.randrange(3)
        group_phases = [rng.randrange(6) for _ in self.groups]
        annual_month = rng.choice((12, 1)) if rng.random() < 0.85 else None
        for year, month in months:
            # the zone's required meetings: monthly committee, quarterly general and lecture
            self.add(
                ActivityKind.COMMITTEE_MEETING,
                self.day_in(year, month),
                f"{year}年{month}月支委会",
                self.committee,
                chance=habits.diligence,
            )
            quarter = (month - 1) // 3 + 1
            if (month - 1) % 3 == general_phase:
                self.add(
                    ActivityKind.GENERAL_MEETING,
                    self.day_in(year, month),
                    f"{year}年第{chinese_ordinal(quarter)}季度党员大会",
                    self.party,
                    chance=habits.diligence,
                )
            if (month - 1) % 3 == lecture_phase:
                self.add(
                    ActivityKind.PARTY_LECTURE,
                    self.day_in(year, month),
                    f"党课：{rng.choice(_LECTURE_TOPICS)}",
                    # a party lecture also teaches the activists among the league members
                    self.party + self.sample(self.league, 0.2, 0.5, 200),
                    chance=habits.diligence,
                )
            if rng.random() < 0.3 * habits.liveliness:
                self.add(
                    ActivityKind.THEME_DAY,
                    self.day_in(year, month),
                    f"{month}月主题党日：{rng.choice(_THEMES)}",
                    self.party,
                )
            for (_, name, people), phase in zip(self.groups, group_phases, strict=True):
                if (month - 1) % 6 == phase and rng.random() < habits.diligence:
                    self.add(
                        ActivityKind.GROUP_MEETING,
                        self.day_in(year, month),
                        f"{name}{month}月学习会",
                        people,
                    )
            for festival, (festival_month, title) in _FESTIVALS.items():
                if month == festival_month and rng.random() < 0.4 * habits.liveliness:
                    self.add(
                        ActivityKind.CULTURAL_SPORTS,
                        self.day_in(year, month),
                        title,
                        self.sample(self.everyone, 0.6, 0.95, 400),
                        festival=festival,
                    )
            if month == annual_month:
                self.add(
                    ActivityKind.ANNUAL_EMPLOYEE_MEETING,
                    self.day_in(year, month),
                    f"{year if month == 12 else year - 1}年度党员职工年会",
                    self.sample(self.everyone, 0.85, 1.0, 1000),
                )
        self.occasional(months)
        for _ in range(rng.randint(0, 1)):  # next month's plans
            starts = self.midnight + timedelta(days=rng.randint(1, 30), hours=rng.choice((9, 14)))
            self.add(ActivityKind.THEME_DAY, starts, f"{starts.month}月主题党日", self.party)

    def occasional(self, months: list[tuple[int, int]]) -> None:
        """Trainings, lectures, consultations and volunteering, a few a year at any time."""
        rng, lively, people = self.rng, self.habits.liveliness, self.everyone
        size = len(people)
        for _ in range(min(12, round(lively * (1.5 + size / 150)))):
            topic = rng.choice(tuple(TrainingTopic))
            hours = rng.choice((3, 4, 6))
            self.add(
                ActivityKind.TRAINING,
                self.day_in(*rng.choice(months)),
                _TRAINING_TITLES[topic],
                self.sample(people, 0.5, 0.9, 250),
                hours=(hours, hours),
                training_topic=topic,
            )
        for _ in range(round(lively * rng.uniform(0, 1.5))):
            self.add(
                ActivityKind.EXPERT_LECTURE,
                self.day_in(*rng.choice(months)),
                f"专家讲座：{rng.choice(_LECTURE_TOPICS)}",
                self.sample(people, 0.4, 0.7, 250),
                training_topic=rng.choice(tuple(TrainingTopic)),
            )
        for _ in range(round(lively * rng.uniform(0, 1.5))):
            topic = rng.choice(tuple(ConsultationTopic))
            self.add(
                ActivityKind.CONSULTATION,
                self.day_in(*rng.choice(months)),
                _CONSULTATIONS[topic],
                self.sample(people, 0.05, 0.2, 30),
                consultation_topic=topic,
            )
        for _ in range(round(lively * rng.uniform(0, 1.5))):
            self.add(
                ActivityKind.VOLUNTEER_SERVICE,
                self.day_in(*rng.choice(months)),
                rng.choice(_VOLUNTEERING),
                self.sample(people, 0.05, 0.25, 40),
            )


def plan_activities(
    rng: random.Random,
    ids: RowIds,
    *,
    tenant_id: uuid.UUID,
    roster: Sequence[RosterEntry],
    groups: Sequence[tuple[uuid.UUID, str]],
    habits: BranchHabits,
    today: date,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A year of a branch's activities up to `today` (plus a few planned for the next month)
    and the attendance of those held, as insert rows.

    Required meetings (monthly committee meeting, quarterly general meeting and party lecture)
    are held with the branch's `diligence`, else cancelled or never recorded; party meetings
    expect the party members (a group meeting its group, a committee meeting the committee);
    other kinds a sample of the roster. Activities before `today` are held (mostly) or
    cancelled, from `today` on planned, so `held` never lies in the future."""
    planner = _Planner(rng, ids, tenant_id, roster, groups, habits, today)
    planner.plan()
    planner.activities.sort(key=lambda a: a["starts_at"])
    return planner.activities, planner.attendance


# --- loading ------------------------------------------------------------------------------------


@dataclass
class ZoneLoad:
    """What a load wrote, and how long it took."""

    size: str
    seed: int
    branches: int = 0
    party_groups: int = 0
    members: int = 0
    activities: int = 0
    attendance: int = 0
    seconds: float = 0.0
    slugs: list[str] = field(default_factory=list)


def zone_today(now: datetime | None = None) -> date:
    """The date in the zone's calendar (UTC+8)."""
    return (now or datetime.now(UTC)).astimezone(ZONE_TIME).date()


def bulk_insert(
    session: Session, model: type, rows: Sequence[dict[str, Any]], batch: int = BATCH_ROWS
) -> int:
    """Insert `rows` of a tenant-owned model (all of the session's tenant, all with the same
    fields) in batches; the isolation hook checks the tenant of each. Returns how many.

    The table, not the entity: the ORM's bulk path splits rows into runs by which fields are
    None (measured: three times slower); Core sends each batch as one executemany (psycopg
    pipelines it). Measured alternatives on PostgreSQL: multi-row VALUES (`RETURNING`) was
    slower, `INSERT ... SELECT FROM unnest(arrays)` no faster (the per-row foreign-key, index
    and row-level security checks dominate), and COPY is refused on tables with row-level
    security."""
    statement = insert(model.__table__)
    for start in range(0, len(rows), batch):
        session.execute(statement, rows[start : start + batch])
    return len(rows)


def record_bulk_load(
    session: Session, *, tenant_id: uuid.UUID, slug: str, facts: dict[str, Any]
) -> None:
    """Put one event in the branch's audit log for a bulk load the flush hook cannot see: the
    session's actor, object type `bulk_load`, and `facts` (what was loaded, how many rows)."""
    actor = session.info.get(ACTOR_KEY) or GENERATOR_ACTOR
    session.add(
        TenantAuditEvent(
            tenant_id=tenant_id,
            actor_issuer=actor["iss"],
            actor_subject=actor["sub"],
            actor_name=actor["name"],
            action="create",
            object_type="bulk_load",
            object_id=slug,
            changes={key: {"before": None, "after": value} for key, value in facts.items()},
        )
    )
    session.flush()


def load_branch(
    session: Session,
    *,
    seed: int,
    index: int,
    members: int,
    today: date,
    slug_prefix: str,
    audit_note: dict[str, Any],
) -> dict[str, int]:
    """Register one synthetic branch and bulk-load its roster, activities and attendance.
    Leaves the session in the branch's tenant context; returns the rows written per table."""
    rng = random.Random(f"{seed}:branch:{index}")  # noqa: S311 - synthetic data, not secrets
    slug = f"{slug_prefix}-{index + 1:04d}"
    fields = registry_fields(rng, slug=slug, members=members)
    bind_context(session, Context.system())
    tenant = provisioning.create_tenant(session, **fields)
    tenant_id = tenant.id
    ids = RowIds(random.Random(f"{seed}:ids:{slug}"))  # noqa: S311
    groups, roster_rows, roster = plan_roster(
        rng,
        ids,
        tenant_id=tenant_id,
        count=members,
        organization=fields["organization_type"],
        today=today,
    )
    activities, attendance = plan_activities(
        rng,
        ids,
        tenant_id=tenant_id,
        roster=roster,
        groups=[(g["id"], g["name"]) for g in groups],
        habits=branch_habits(rng),
        today=today,
    )
    bind_context(session, Context.tenant(tenant_id))
    written = {
        "party_groups": bulk_insert(session, PartyGroup, groups),
        "members": bulk_insert(session, Member, roster_rows),
        "activities": bulk_insert(session, Activity, activities),
        "attendance": bulk_insert(session, Attendance, attendance),
    }
    record_bulk_load(session, tenant_id=tenant_id, slug=slug, facts={**audit_note, **written})
    return written


def load_zone(
    session: Session,
    *,
    size: ZoneSize,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    slug_prefix: str = "syn",
    progress: Callable[[int, int], None] | None = None,
) -> ZoneLoad:
    """Generate a zone of `size` from `seed` as of `now` (default: now) and load it (slugs
    `<prefix>-0001`, …) in the session's transaction; the caller commits. Refuses (ValueError)
    if a branch with the prefix exists. Expunges the session's objects as it goes; the session
    ends in the context it came in (the system context if none)."""
    started = time.monotonic()
    came_in = current_context(session) or Context.system()
    bind_context(session, Context.system())
    pattern = f"{escape_like(slug_prefix)}-%"
    clash = session.scalar(select(Tenant.slug).where(Tenant.slug.like(pattern, escape="\\")))
    if clash is not None:
        raise ValueError(
            f"branch {clash!r} is registered: load a synthetic zone into a database without one"
        )
    today = zone_today(now)
    sizes = branch_sizes(size, seed)
    load = ZoneLoad(size.name, seed)
    note = {"source": "synthetic zone", "size": size.name, "seed": seed, "as_of": today.isoformat()}
    for index, members in enumerate(sizes):
        written = load_branch(
            session,
            seed=seed,
            index=index,
            members=members,
            today=today,
            slug_prefix=slug_prefix,
            audit_note=note,
        )
        load.branches += 1
        load.slugs.append(f"{slug_prefix}-{index + 1:04d}")
        for table, count in written.items():
            setattr(load, table, getattr(load, table) + count)
        # the rows are written: an empty identity map keeps each context switch cheap
        session.expunge_all()
        if progress:
            progress(index + 1, len(sizes))
    bind_context(session, came_in)
    load.seconds = time.monotonic() - started
    return load


LOADED_TABLES = (
    "tenants",
    "party_groups",
    "members",
    "activities",
    "attendance",
    "tenant_audit_events",
    "zone_audit_events",
)


def refresh_statistics(owner_url: str) -> bool:
    """`ANALYZE` the tables a load filled (PostgreSQL; `owner_url` connects as their owner, the
    app role may not). Until autovacuum gets to freshly loaded tables the planner takes them
    for nearly empty, and a zone-wide join over them runs for minutes instead of milliseconds.
    Returns whether it ran (not on SQLite, whose planner needs no help here)."""
    from service.database import make_engine

    engine = make_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        if engine.dialect.name != "postgresql":
            return False
        with engine.connect() as connection:
            connection.exec_driver_sql(f"ANALYZE {', '.join(LOADED_TABLES)}")
        return True
    finally:
        engine.dispose()


def zone_counts(load: ZoneLoad) -> Iterable[tuple[str, int]]:
    """The load's row counts, for a report."""
    return [
        ("branches", load.branches),
        ("party groups", load.party_groups),
        ("members", load.members),
        ("activities", load.activities),
        ("attendance records", load.attendance),
    ]
