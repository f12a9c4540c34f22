"""The figures of a branch's home page and its standing, read through the domain functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.activities import training
from service.activities.models import Activity, ActivityStatus
from service.activities.service import ActivityFilters, list_activities
from service.database import db
from service.members.service import roster_figures
from service.rollups import ranking, rankings_cache
from service.rollups.models import BranchRollup, Indicator
from tenants.orm import utcnow

UPCOMING = 5


@dataclass(frozen=True)
class BranchHome:
    roster: dict[str, int]
    year: int
    meetings_held: int | None  # None: the rollups have not run for the year yet
    meetings_due: int | None
    training: dict
    upcoming: list[Activity]


@dataclass(frozen=True)
class OwnStanding:
    period: str
    rank: int | None
    ranked: int
    total: float | None
    indicators: dict[Indicator, ranking.Figure]
    medians: dict[Indicator, ranking.Median]
    computed_at: datetime | None


def branch_home(session: Session, *, tenant_id: uuid.UUID) -> BranchHome:
    """Members by category, meetings held against the schedule this year, training-hours
    compliance, and the next planned activities (soonest first)."""
    year = training.current_year()
    rollup = session.scalar(
        select(BranchRollup).where(
            BranchRollup.tenant_id == tenant_id, BranchRollup.period == str(year)
        )
    )
    upcoming_filter = ActivityFilters(status=ActivityStatus.PLANNED, starts_from=utcnow())
    # newest first: the soonest are the last page of the list
    _, total = list_activities(
        session, tenant_id=tenant_id, filters=upcoming_filter, offset=0, limit=1
    )
    upcoming, _ = list_activities(
        session,
        tenant_id=tenant_id,
        filters=upcoming_filter,
        offset=max(total - UPCOMING, 0),
        limit=UPCOMING,
    )
    return BranchHome(
        roster=roster_figures(session, tenant_id=tenant_id),
        year=year,
        meetings_held=rollup.meetings_held if rollup else None,
        meetings_due=rollup.meetings_due if rollup else None,
        training=training.summary(session, tenant_id=tenant_id, year=year).totals,
        upcoming=list(reversed(upcoming)),
    )


def own_standing(*, tenant_id: uuid.UUID, period: str) -> OwnStanding:
    """The branch's rank and indicators against the zone's medians, as the standing API gives
    them: the zone's rows are read in a zone session of their own, and only aggregates and this
    branch's own entry leave it."""
    entry = rankings_cache.zone_ranking_for_branch(db.new_session, period)
    result = entry.ranking
    own = entry.standing_of(tenant_id)
    return OwnStanding(
        period=period,
        rank=own.rank if own else None,
        ranked=result.ranked,
        total=own.shown_total if own else None,
        indicators=own.indicators if own else {},
        medians=entry.medians(),
        computed_at=own.computed_at if own else None,
    )
