"""The zone view's rankings: the table (sortable, filterable by industry and enterprise type)
with each branch's per-indicator breakdown, its bar chart, and when the figures were computed.
Same ranking rules and permission as `GET /api/v1/zone/rankings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from service.activities.training import current_year
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.errors import Invalid
from service.rollups import ranking, rankings_cache
from service.rollups.models import Indicator
from service.web.labels import label
from tenants.registry import EnterpriseType, Tenant, TenantStatus

bp = Blueprint("zone_pages", __name__, url_prefix="/zone")

SORT_KEYS = ("rank", "name", *(i.value for i in Indicator))


@dataclass(frozen=True)
class RankingView:
    """The ranking a page or an export shows: the request's filters, sorted as asked."""

    result: ranking.Ranking
    standings: list[ranking.Standing]
    period: str
    industry: str | None
    enterprise_type: EnterpriseType | None
    sort: str


def ranking_view(args: Mapping[str, str]) -> RankingView:
    """Rank by the query's period (default this year; a bad one falls back to it), industry and
    enterprise type, sorted by `sort`. Needs the zone context."""
    period = (args.get("period") or str(current_year())).strip()
    industry = args.get("industry") or None
    enterprise_type = _enterprise_type(args.get("enterprise_type"))
    sort = args.get("sort") if args.get("sort") in SORT_KEYS else "rank"
    try:
        ranking.check_period(period)
    except Invalid:
        period = str(current_year())
    inputs = rankings_cache.Inputs.of(period, industry, enterprise_type)
    at = rankings_cache.fingerprint(db.session, period)
    result = rankings_cache.ranked(db.session, inputs, at).ranking  # shared: read-only
    standings = sorted(result.standings, key=_sort_key(sort))
    return RankingView(result, standings, period, industry, enterprise_type, sort)


@bp.get("/rankings")
@require(Action.RANKINGS_READ)
def rankings():
    view = ranking_view(request.args)
    return render_template(
        "zone/rankings.html",
        zone_view=True,
        result=view.result,
        standings=view.standings,
        period=view.period,
        industry=view.industry,
        enterprise_type=view.enterprise_type,
        industries=_industries(),
        enterprise_types=list(EnterpriseType),
        EnterpriseType=EnterpriseType,
        indicators=list(Indicator),
        sort=view.sort,
        chart=_chart_data(view.result),
    )


def _enterprise_type(value: str | None) -> EnterpriseType | None:
    try:
        return EnterpriseType(value) if value else None
    except ValueError:
        return None


def _industries() -> list[str]:
    return list(
        db.session.scalars(
            select(Tenant.industry)
            .where(Tenant.status == TenantStatus.ACTIVE)
            .distinct()
            .order_by(Tenant.industry)
        )
    )


def _sort_key(sort: str):
    """Rank order by default; an indicator sorts by its score, highest first (not applicable
    last); name sorts alphabetically."""
    if sort == "name":
        return lambda s: s.name
    if sort == "rank":
        return lambda s: (s.rank is None, s.rank or 0, s.name)
    indicator = Indicator(sort)

    def by_score(s: ranking.Standing):
        figure = s.indicators.get(indicator)
        score = figure.shown_score if figure is not None and figure.applicable else None
        return (score is None, -(score or 0), s.name)

    return by_score


def _chart_data(result: ranking.Ranking) -> dict:
    """What the bar chart draws: ranked branches, best on top, total and indicator scores."""
    ranked = [s for s in result.standings if s.rank is not None]
    return {
        "branches": [s.name for s in ranked],
        "series": [
            {"name": _("Total score"), "values": [s.shown_total for s in ranked]},
            *(
                {
                    "name": label(indicator),
                    "values": [
                        s.indicators[indicator].shown_score
                        if s.indicators[indicator].applicable
                        else None
                        for s in ranked
                    ],
                }
                for indicator in Indicator
            ),
        ],
        "title": _("Total score by branch"),
    }
