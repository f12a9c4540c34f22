"""How the pages name the domain's enumerations, in the person's language."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from service.activities.models import (
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    ConsultationTopic,
    Festival,
    TrainingTopic,
)
from service.auth.roles import Role
from service.members.models import Category, Education, Gender, PartyStatus
from service.rollups.models import Indicator
from tenants.registry import EnterpriseType, TenantStatus

LABELS: dict[enum.Enum, object] = {
    Category.PARTY_MEMBER: _l("Party member"),
    Category.LEAGUE_MEMBER: _l("League member"),
    Category.WORKER: _l("Worker"),
    Category.OTHER: _l("Other"),
    PartyStatus.PROBATIONARY: _l("Probationary"),
    PartyStatus.FULL: _l("Full member"),
    Gender.MALE: _l("Male"),
    Gender.FEMALE: _l("Female"),
    Education.PRIMARY_OR_BELOW: _l("Primary school or below"),
    Education.JUNIOR_HIGH: _l("Junior high school"),
    Education.SENIOR_HIGH: _l("Senior high school"),
    Education.VOCATIONAL_SECONDARY: _l("Vocational secondary school"),
    Education.JUNIOR_COLLEGE: _l("Junior college"),
    Education.BACHELOR: _l("Bachelor"),
    Education.MASTER: _l("Master"),
    Education.DOCTORATE: _l("Doctorate"),
    ActivityKind.GENERAL_MEETING: _l("General members' meeting"),
    ActivityKind.COMMITTEE_MEETING: _l("Branch committee meeting"),
    ActivityKind.GROUP_MEETING: _l("Party group meeting"),
    ActivityKind.PARTY_LECTURE: _l("Party lecture"),
    ActivityKind.THEME_DAY: _l("Theme party day"),
    ActivityKind.TRAINING: _l("Training"),
    ActivityKind.EXPERT_LECTURE: _l("Expert lecture"),
    ActivityKind.CONSULTATION: _l("Consultation"),
    ActivityKind.CULTURAL_SPORTS: _l("Cultural or sports activity"),
    ActivityKind.VOLUNTEER_SERVICE: _l("Volunteer service"),
    ActivityKind.ANNUAL_EMPLOYEE_MEETING: _l("Annual members' and employees' meeting"),
    ConsultationTopic.HEALTH: _l("Health"),
    ConsultationTopic.PSYCHOLOGY: _l("Psychology"),
    ConsultationTopic.LAW: _l("Law"),
    Festival.MAY_DAY: _l("May Day"),
    Festival.YOUTH_DAY: _l("May Fourth Youth Day"),
    Festival.NATIONAL_DAY: _l("National Day"),
    Festival.NEW_YEAR: _l("New Year's Day"),
    TrainingTopic.IDEOLOGY: _l("Political theory"),
    TrainingTopic.PARTY_AFFAIRS: _l("Party affairs"),
    TrainingTopic.INDUSTRY: _l("Industry development"),
    TrainingTopic.LAW: _l("Laws and regulations"),
    ActivityStatus.PLANNED: _l("Planned"),
    ActivityStatus.HELD: _l("Held"),
    ActivityStatus.CANCELLED: _l("Cancelled"),
    AttendanceStatus.PRESENT: _l("Present"),
    AttendanceStatus.LATE: _l("Late"),
    AttendanceStatus.EXCUSED: _l("Excused"),
    AttendanceStatus.ABSENT: _l("Absent"),
    EnterpriseType.PRIVATE: _l("Private"),
    EnterpriseType.FOREIGN_FUNDED: _l("Foreign-funded"),
    EnterpriseType.JOINT_VENTURE: _l("Joint venture"),
    EnterpriseType.OTHER: _l("Other"),
    TenantStatus.ACTIVE: _l("Active"),
    TenantStatus.SUSPENDED: _l("Suspended"),
    TenantStatus.ARCHIVED: _l("Archived (read-only)"),
    Role.ZONE_ADMIN: _l("Committee administrator"),
    Role.ZONE_VIEWER: _l("Committee staff (read-only)"),
    Role.BRANCH_ADMIN: _l("Branch secretary (administrator)"),
    Role.BRANCH_MEMBER: _l("Branch member (read-only)"),
    Role.TOKEN_READ: _l("API token (read)"),
    Role.TOKEN_READ_WRITE: _l("API token (read and write)"),
    Indicator.MEETINGS: _l("Required meetings held"),
    Indicator.ATTENDANCE: _l("Attendance rate"),
    Indicator.TRAINING: _l("Training-hours compliance"),
    Indicator.ACTIVITY: _l("Activities per party member"),
}


def label(value: enum.Enum | None) -> str:
    """The person-readable name of an enumeration value ('' for none)."""
    if value is None:
        return ""
    return str(LABELS.get(value, value.value))


def labels(values) -> str:
    """Several enumeration values' names, sorted and joined (a person's roles)."""
    return ", ".join(sorted(label(v) for v in values))
