"""The zone's ranking of branches, computed from the read model (`BranchRollup`) on every read.

Branches are ranked, never people; every figure shows how it was made. The rules:

* **Indicators**, from a branch's row for the period (numerator / denominator):
  - `meetings`: required meetings held / due (`meetings_held / meetings_due`);
  - `attendance`: present or late / attendance records (`attendance_present / attendance_records`);
  - `training`: members meeting their target / members with a target (year periods only: a month
    row has no one with a target, so the indicator is not applicable);
  - `activity`: activities held / party members (`activities_held / max(party_members, 1)`).
* **Not applicable**: an indicator whose denominator is 0 (no meeting due, no attendance recorded,
  nobody with a training target) is marked `applicable: false`, scores nothing, and its weight is
  left out of *that branch's* total: a branch is not punished for an empty denominator.
* **Scores** (0–100): the three rates × 100; `activity` against the best branch of the compared
  set (value / best × 100). When no branch of the set held any activity, everyone scores 0.
* **Total**: Σ weight × score / Σ weight, over the branch's applicable indicators, computed
  exactly and rounded to 2 decimals (half up). A branch whose applicable indicators weigh nothing
  (none applicable, or all weighted 0) has no total and no rank; it is listed last.
* **Ranks**: by total (the rounded figure shown), highest first; equal totals share a rank and
  the next rank skips (1, 2, 2, 4). Ties are listed by name, then slug.
* **Compared set**: active branches only (suspended ones are closed, archived ones no longer
  run), optionally narrowed to an industry and an enterprise type, that have figures for the
  period. Scores relative to the set (`activity`) are recomputed within the narrowed set.
* **Weights**: the zone's `RankingWeight` rows; an indicator without a row weighs its default (1).

Reads never trigger a recompute: they rank whatever rows exist, and report the oldest
`computed_at` and how many branches of the set have no figures yet.
"""

from __future__ import annotations

import re
import statistics
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import Invalid
from service.rollups.models import DEFAULT_WEIGHTS, BranchRollup, Indicator, RankingWeight
from tenants.registry import Tenant, TenantStatus

PERIOD_PATTERN = re.compile(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?\Z")
PERIOD_RULE = "a year (2026) or a month (2026-03)"
MAX_WEIGHT = Decimal("999.999")  # the column is NUMERIC(6, 3)
RANKED_STATUSES = (TenantStatus.ACTIVE,)

_CENT = Decimal("0.01")
_RAW = Decimal("0.0001")


def _rounded(value: Fraction, quantum: Decimal) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(quantum, rounding=ROUND_HALF_UP)


# --- indicators of one row ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """An indicator's raw figure: numerator / denominator (None when the denominator is 0)."""

    numerator: int
    denominator: int

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None


def ratios(row: BranchRollup) -> dict[Indicator, Ratio]:
    """The four raw figures of a branch's row."""
    return {
        Indicator.MEETINGS: Ratio(row.meetings_held or 0, row.meetings_due or 0),
        Indicator.ATTENDANCE: Ratio(row.attendance_present or 0, row.attendance_records or 0),
        Indicator.TRAINING: Ratio(row.training_compliant or 0, row.training_with_target or 0),
        Indicator.ACTIVITY: Ratio(row.activities_held or 0, max(row.party_members or 0, 1)),
    }


@dataclass(frozen=True)
class Figure:
    """One indicator of one branch, explained."""

    numerator: int
    denominator: int
    raw: Fraction | None  # numerator / denominator
    score: Fraction | None  # 0–100
    weight: Decimal
    applicable: bool


@dataclass
class Standing:
    """One branch in the ranking."""

    tenant_id: uuid.UUID
    slug: str
    name: str
    industry: str
    enterprise_type: str
    computed_at: datetime
    indicators: dict[Indicator, Figure]
    exact_total: Fraction | None = None
    total: Decimal | None = None
    rank: int | None = None


@dataclass
class Ranking:
    period: str
    weights: dict[Indicator, Decimal]
    standings: list[Standing] = field(default_factory=list)
    without_figures: int = 0  # branches of the compared set with no row for the period

    @property
    def ranked(self) -> int:
        return sum(1 for s in self.standings if s.rank is not None)

    @property
    def oldest_computed_at(self) -> datetime | None:
        return min((s.computed_at for s in self.standings), default=None)


# --- weights -------------------------------------------------------------------------------------


def weights(session: Session) -> dict[Indicator, Decimal]:
    """Every indicator's weight: the zone's figure, or the default."""
    stored = {w.indicator: w.weight for w in session.scalars(select(RankingWeight))}
    return {i: Decimal(stored.get(i, DEFAULT_WEIGHTS[i])) for i in Indicator}


def set_weights(session: Session, wanted: Mapping[Indicator, Decimal]) -> dict[Indicator, Decimal]:
    """Set every indicator's weight (the body lists all four). Refuses negative, too large and
    all-zero weights before writing anything; writes (and so audits) only the changed ones."""
    errors: dict[str, str] = {}
    for indicator in Indicator:
        if indicator not in wanted:
            errors[indicator.value] = "Missing: give every indicator its weight."
            continue
        weight = wanted[indicator]
        if weight < 0:
            errors[indicator.value] = "Must not be negative."
        elif weight > MAX_WEIGHT:
            errors[indicator.value] = f"Must be at most {MAX_WEIGHT}."
    if errors:
        raise Invalid(errors)
    if all(wanted[i] == 0 for i in Indicator):
        raise Invalid(
            {i.value: "All weights are zero: at least one indicator must count." for i in Indicator}
        )
    stored = {w.indicator: w for w in session.scalars(select(RankingWeight))}
    for indicator in Indicator:
        weight = Decimal(wanted[indicator]).quantize(Decimal("0.001"))
        row = stored.get(indicator)
        if row is None:
            session.add(RankingWeight(indicator=indicator, weight=weight))
        elif Decimal(row.weight) != weight:
            row.weight = weight
    session.flush()
    return weights(session)


# --- the ranking ---------------------------------------------------------------------------------


def check_period(period: str) -> str:
    if not isinstance(period, str) or not PERIOD_PATTERN.match(period):
        raise Invalid({"period": f"Must be {PERIOD_RULE}."})
    return period


def rank(
    session: Session,
    *,
    period: str,
    industry: str | None = None,
    enterprise_type: str | None = None,
) -> Ranking:
    """Rank the compared set's branches for `period`. `session` must be in the zone context
    (it reads every branch's row); nothing is written and nothing is recomputed."""
    check_period(period)
    tenants = select(Tenant).where(Tenant.status.in_(RANKED_STATUSES))
    if industry:
        tenants = tenants.where(Tenant.industry == industry)
    if enterprise_type:
        tenants = tenants.where(Tenant.enterprise_type == enterprise_type)
    compared = {t.id: t for t in session.scalars(tenants)}
    rows = [
        row
        for row in session.scalars(select(BranchRollup).where(BranchRollup.period == period))
        if row.tenant_id in compared
    ]
    ranking = Ranking(period=period, weights=weights(session))
    ranking.without_figures = len(compared) - len(rows)
    ranking.standings = score_rows([(compared[r.tenant_id], r) for r in rows], ranking.weights)
    return ranking


def score_rows(
    rows: Iterable[tuple[Tenant, BranchRollup]], weights: Mapping[Indicator, Decimal]
) -> list[Standing]:
    """Score, total and rank branches (each with its row) against each other: plain arithmetic,
    no database."""
    pairs = list(rows)
    raw = {tenant.id: ratios(row) for tenant, row in pairs}
    best_activity = max(
        (r[Indicator.ACTIVITY].value for r in raw.values() if r[Indicator.ACTIVITY].value),
        default=Fraction(0),
    )
    standings = []
    for tenant, row in pairs:
        figures = {}
        for indicator, ratio in raw[tenant.id].items():
            value = ratio.value
            if value is None:
                score = None
            elif indicator == Indicator.ACTIVITY:
                score = value / best_activity * 100 if best_activity else Fraction(0)
            else:
                score = value * 100
            figures[indicator] = Figure(
                numerator=ratio.numerator,
                denominator=ratio.denominator,
                raw=value,
                score=score,
                weight=Decimal(weights[indicator]),
                applicable=value is not None,
            )
        standing = Standing(
            tenant_id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            industry=tenant.industry,
            enterprise_type=str(tenant.enterprise_type),
            computed_at=row.computed_at,
            indicators=figures,
        )
        counted = [f for f in figures.values() if f.applicable]
        weight_sum = sum((Fraction(f.weight) for f in counted), Fraction(0))
        if weight_sum:
            standing.exact_total = (
                sum((Fraction(f.weight) * f.score for f in counted), Fraction(0)) / weight_sum
            )
            standing.total = _rounded(standing.exact_total, _CENT)
        standings.append(standing)
    ranked = sorted(
        (s for s in standings if s.total is not None), key=lambda s: (-s.total, s.name, s.slug)
    )
    for index, standing in enumerate(ranked):
        previous = ranked[index - 1] if index else None
        tied = previous is not None and previous.total == standing.total
        standing.rank = previous.rank if tied else index + 1
    unranked = sorted((s for s in standings if s.total is None), key=lambda s: (s.name, s.slug))
    return ranked + unranked


# --- one branch's standing, and the zone's medians ----------------------------------------------


# a median over fewer branches could give another branch's figure away (with two, a branch
# knowing its own works out the other's exactly): below this many it is withheld
MIN_BRANCHES_FOR_MEDIAN = 5


@dataclass(frozen=True)
class Median:
    raw: Fraction | None
    score: Fraction | None
    branches: int  # branches for which the indicator is applicable
    withheld: bool = False  # too few branches to show it without revealing one


def medians(
    standings: Iterable[Standing], *, minimum: int = MIN_BRANCHES_FOR_MEDIAN
) -> dict[Indicator, Median]:
    """Per indicator, the median raw figure and score over the branches where it applies;
    withheld (None) when fewer than `minimum` branches have it."""
    applicable: dict[Indicator, list[Figure]] = {i: [] for i in Indicator}
    for standing in standings:
        for indicator, figure in standing.indicators.items():
            if figure.applicable:
                applicable[indicator].append(figure)
    result = {}
    for indicator, figures in applicable.items():
        if len(figures) < minimum:
            result[indicator] = Median(None, None, len(figures), withheld=bool(figures))
            continue
        result[indicator] = Median(
            raw=statistics.median(f.raw for f in figures),
            score=statistics.median(f.score for f in figures),
            branches=len(figures),
        )
    return result


def shown(value: Fraction | None, *, raw: bool = False) -> float | None:
    """A figure as the API shows it: raw values to 4 decimals, scores and totals to 2."""
    if value is None:
        return None
    return float(_rounded(Fraction(value), _RAW if raw else _CENT))
