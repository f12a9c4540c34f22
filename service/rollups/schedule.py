"""The zone's schedule of required meetings (what `meetings_due` counts against).

An empty table means the defaults (`DEFAULT_REQUIREMENTS`: branch committee meeting monthly,
general members' meeting and party lecture quarterly, once each). Replacing the schedule is
audited (the table is) and asks for every branch's rollup to be recomputed after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activities.models import ActivityKind
from service.errors import Invalid
from service.rollups.models import DEFAULT_REQUIREMENTS, Frequency, MeetingRequirement
from service.rollups.triggers import mark_zone_changed


@dataclass(frozen=True)
class ScheduleItem:
    kind: ActivityKind
    frequency: Frequency
    times: int
    is_default: bool


def schedule(session: Session) -> list[ScheduleItem]:
    """The schedule in force: the zone's rows, or the defaults while it has none."""
    rows = list(session.scalars(select(MeetingRequirement).order_by(MeetingRequirement.kind)))
    if rows:
        return [ScheduleItem(r.kind, r.frequency, r.times, False) for r in rows]
    return [ScheduleItem(k, f, t, True) for k, (f, t) in DEFAULT_REQUIREMENTS.items()]


def set_schedule(session: Session, *, items: Sequence[Mapping[str, Any]]) -> list[ScheduleItem]:
    """Replace the zone's schedule with `items` (an empty list: back to the defaults)."""
    errors: dict[str, dict[str, str]] = {}
    seen: set[ActivityKind] = set()
    for index, item in enumerate(items):
        if item["kind"] in seen:
            errors[str(index)] = {"kind": "This kind appears twice in the list."}
        seen.add(item["kind"])
        if item["times"] < 1:
            errors.setdefault(str(index), {})["times"] = "Must be at least 1."
    if errors:
        raise Invalid(errors)
    wanted = {i["kind"]: (i["frequency"], i["times"]) for i in items}
    stored = {r.kind: r for r in session.scalars(select(MeetingRequirement))}
    for kind, row in stored.items():
        if kind not in wanted:
            session.delete(row)
    for kind, (frequency, times) in wanted.items():
        row = stored.get(kind)
        if row is None:
            session.add(MeetingRequirement(kind=kind, frequency=frequency, times=times))
        elif (row.frequency, row.times) != (frequency, times):
            row.frequency, row.times = frequency, times
    session.flush()
    mark_zone_changed(session)
    return schedule(session)
