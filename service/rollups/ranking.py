"""The zone's ranking of branches, computed from the read model (`BranchRollup`).

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

Cost: one query for the compared set's figures (columns, not ORM objects), then integer
arithmetic: exact figures are kept as numerator/denominator pairs and rounded half up exactly.
With `Fraction`s (some 80,000 created per read of 2,000 branches) and ORM objects, a read of
2,000 branches spent most of its time here (tests/perf/bench_zone_reads.py); `Figure.raw` and
`.score` still give `Fraction`s on demand. The endpoints do not call `rank` on every read: they
go through `rankings_cache`, which keeps a ranking while a fingerprint of everything `rank`
reads (the period's rows, `tenants`, the weights) stays the same. Reading anything more here
means adding it to that fingerprint.
"""

from __future__ import annotations

import math
import re
import statistics
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from service.errors import Invalid
from service.rollups.models import DEFAULT_WEIGHTS, BranchRollup, Indicator, RankingWeight
from tenants.registry import Tenant, TenantStatus

PERIOD_PATTERN = re.compile(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?\Z")
PERIOD_RULE = "a year (2026) or a month (2026-03)"
MAX_WEIGHT = Decimal("999.999")  # the column is NUMERIC(6, 3)
RANKED_STATUSES = (TenantStatus.ACTIVE,)
_ORDER = (Indicator.MEETINGS, Indicator.ATTENDANCE, Indicator.TRAINING, Indicator.ACTIVITY)


def _half_up(numerator: int, denominator: int, places: int) -> int:
    """`numerator / denominator` (denominator > 0) in units of 10**-places, rounded half up
    (halves away from zero), exactly."""
    if numerator < 0:
        return -_half_up(-numerator, denominator, places)
    return (2 * numerator * 10**places + denominator) // (2 * denominator)


# --- indicators of one row ------------------------------------------------------------------------


class BranchFigures(NamedTuple):
    """What ranking reads of one branch: its registry entry and its row's figures."""

    tenant_id: uuid.UUID
    slug: str
    name: str
    industry: str
    enterprise_type: str
    computed_at: datetime
    meetings_held: int
    meetings_due: int
    attendance_present: int
    attendance_records: int
    training_compliant: int
    training_with_target: int
    activities_held: int
    party_members: int


# positions in a row (rows are read as plain tuples)
_COMPUTED_AT = BranchFigures._fields.index("computed_at")
_ACTIVITIES_HELD = BranchFigures._fields.index("activities_held")
_PARTY_MEMBERS = BranchFigures._fields.index("party_members")


class Figure(NamedTuple):
    """One indicator of one branch, explained: raw = numerator / denominator and the score
    (0–100) = score_numerator / score_denominator, exact; a denominator of 0 means not
    applicable. `shown_raw` and `shown_score` are the figures as the API shows them (4 and 2
    decimals, rounded half up)."""

    numerator: int
    denominator: int
    score_numerator: int
    score_denominator: int
    weight: Decimal
    shown_raw: float | None
    shown_score: float | None

    @property
    def applicable(self) -> bool:
        return self.denominator != 0

    @property
    def raw(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def score(self) -> Fraction | None:
        if not self.score_denominator:
            return None
        return Fraction(self.score_numerator, self.score_denominator)


def _figure(numerator: int, denominator: int, score: tuple[int, int], weight: Decimal) -> Figure:
    score_numerator, score_denominator = score
    raw_shown = score_shown = None
    # _half_up inlined for counts (never negative): thousands of figures per read
    if denominator:
        if numerator >= 0:
            raw_shown = (20_000 * numerator + denominator) // (2 * denominator) / 10_000
        else:
            raw_shown = _half_up(numerator, denominator, 4) / 10_000
    if score_denominator:
        if score_numerator >= 0:
            score_shown = (200 * score_numerator + score_denominator) // (2 * score_denominator)
        else:
            score_shown = _half_up(score_numerator, score_denominator, 2)
        score_shown /= 100
    return Figure(
        numerator, denominator, score_numerator, score_denominator, weight, raw_shown, score_shown
    )


@dataclass(slots=True)
class Standing:
    """One branch in the ranking."""

    tenant_id: uuid.UUID
    slug: str
    name: str
    industry: str
    enterprise_type: str
    computed_at: datetime
    indicators: dict[Indicator, Figure]
    total_cents: int | None = None  # the total as shown, in hundredths
    rank: int | None = None
    # the exact total, Σ weight × score / Σ weight, as numerator / denominator
    total_fraction: tuple[int, int] | None = None

    @property
    def exact_total(self) -> Fraction | None:
        return Fraction(*self.total_fraction) if self.total_fraction else None

    @property
    def total(self) -> Decimal | None:
        """The total rounded to 2 decimals (half up), as ranked and shown."""
        return None if self.total_cents is None else Decimal(self.total_cents).scaleb(-2)

    @property
    def shown_total(self) -> float | None:
        return None if self.total_cents is None else self.total_cents / 100


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
    # the compared set, each branch with its row for the period if it has one; the columns
    # in `BranchFigures` order
    query = (
        select(
            Tenant.id,
            Tenant.slug,
            Tenant.name,
            Tenant.industry,
            Tenant.enterprise_type,
            BranchRollup.computed_at,
            BranchRollup.meetings_held,
            BranchRollup.meetings_due,
            BranchRollup.attendance_present,
            BranchRollup.attendance_records,
            BranchRollup.training_compliant,
            BranchRollup.training_with_target,
            BranchRollup.activities_held,
            BranchRollup.party_members,
        )
        .select_from(Tenant)
        .outerjoin(
            BranchRollup,
            and_(BranchRollup.tenant_id == Tenant.id, BranchRollup.period == period),
        )
        .where(Tenant.status.in_(RANKED_STATUSES))
    )
    if industry:
        query = query.where(Tenant.industry == industry)
    if enterprise_type:
        query = query.where(Tenant.enterprise_type == enterprise_type)
    compared = session.execute(query).all()
    # computed_at is never null in a row: null here is a branch without one
    rows = [r for r in compared if r[_COMPUTED_AT] is not None]
    ranking = Ranking(period=period, weights=weights(session))
    ranking.without_figures = len(compared) - len(rows)
    ranking.standings = score_rows(rows, ranking.weights)
    return ranking


def score_rows(
    rows: Iterable[BranchFigures | tuple], weights: Mapping[Indicator, Decimal]
) -> list[Standing]:
    """Score, total and rank branches against each other, each given by its figures (tuples
    in `BranchFigures` order): plain arithmetic, no database."""
    rows = list(rows)
    meetings, attendance, training, activity = _ORDER  # enum member lookups cost, in a loop
    # the weights on one integer scale (their common denominator): totals stay exact
    exact = [Fraction(weights[i]) for i in _ORDER]
    scale = math.lcm(*(f.denominator for f in exact))
    w_meet, w_att, w_tr, w_act = (f.numerator * (scale // f.denominator) for f in exact)
    weight_meet, weight_att, weight_tr, weight_act = (Decimal(weights[i]) for i in _ORDER)
    # the set's best activity (activities held per party member), among those not 0
    best = None
    for row in rows:
        held, per = row[_ACTIVITIES_HELD] or 0, max(row[_PARTY_MEMBERS] or 0, 1)
        if held and (best is None or held * best[1] > best[0] * per):
            best = (held, per)
    standings = []
    for (
        tenant_id,
        slug,
        name,
        industry,
        enterprise_type,
        computed_at,
        n_meet,
        d_meet,
        n_att,
        d_att,
        n_tr,
        d_tr,
        n_act,
        party,
    ) in rows:
        n_meet, d_meet, n_att, d_att = n_meet or 0, d_meet or 0, n_att or 0, d_att or 0
        n_tr, d_tr, n_act, d_act = n_tr or 0, d_tr or 0, n_act or 0, max(party or 0, 1)
        # scores: rates × 100; activity against the best (value / best × 100), or 0
        s_meet, s_att, s_tr = (100 * n_meet, d_meet), (100 * n_att, d_att), (100 * n_tr, d_tr)
        if best is None:
            s_act = (0, 1)
        elif best[0] > 0:
            s_act = (100 * n_act * best[1], d_act * best[0])
        else:  # never with counts; kept exact all the same
            s_act = (-100 * n_act * best[1], -d_act * best[0])
        standing = Standing(
            tenant_id,
            slug,
            name,
            industry,
            str(enterprise_type),
            computed_at,
            {
                meetings: _figure(n_meet, d_meet, s_meet, weight_meet),
                attendance: _figure(n_att, d_att, s_att, weight_att),
                training: _figure(n_tr, d_tr, s_tr, weight_tr),
                activity: _figure(n_act, d_act, s_act, weight_act),
            },
        )
        # Σ weight × score / Σ weight over the applicable indicators, as one exact fraction
        numerator, denominator, weight_sum = 0, 1, 0
        for weight, (score_n, score_d) in (
            (w_meet, s_meet),
            (w_att, s_att),
            (w_tr, s_tr),
            (w_act, s_act),
        ):
            if score_d:
                numerator = numerator * score_d + weight * score_n * denominator
                denominator *= score_d
                weight_sum += weight
        if weight_sum:
            standing.total_fraction = (numerator, denominator * weight_sum)
            standing.total_cents = _half_up(numerator, denominator * weight_sum, 2)
        standings.append(standing)
    ranked = sorted(
        (s for s in standings if s.total_cents is not None),
        key=lambda s: (-s.total_cents, s.name, s.slug),
    )
    previous = None
    for index, standing in enumerate(ranked):
        tied = previous is not None and previous.total_cents == standing.total_cents
        standing.rank = previous.rank if tied else index + 1
        previous = standing
    unranked = sorted(
        (s for s in standings if s.total_cents is None), key=lambda s: (s.name, s.slug)
    )
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
    value = Fraction(value)
    places = 4 if raw else 2
    return _half_up(value.numerator, value.denominator, places) / 10**places
