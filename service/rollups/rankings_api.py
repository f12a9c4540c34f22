"""`/api/v1/zone/rankings`, `/api/v1/zone/ranking-weights` (zone) and
`/api/v1/t/<slug>/standing` (branch): translation only; the rules are in `ranking`."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import marshmallow as ma
from flask import abort, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate

from service.activities.training import current_year
from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.rollups import ranking, rankings_cache
from service.rollups.models import Indicator
from service.schema_base import InputSchema, JsonDecimal
from tenants.registry import EnterpriseType, TenantStatus

zone_blp = Blueprint(
    "zone_rankings",
    __name__,
    url_prefix="/api/v1/zone",
    description="The ranking of branches by their rollup figures, and the indicators' weights.",
)
blp = Blueprint(
    "standing",
    __name__,
    url_prefix="/api/v1/t/<tenant_slug>",
    description="The branch's own standing in the zone: its rank and the zone's medians.",
)

NOT_COMPUTED = (
    "No figures are computed for {period} yet: the rollups have not run for this period "
    "(reads never start them)."
)


# --- schemas -------------------------------------------------------------------------------------


class PeriodQuerySchema(InputSchema):
    period = ma.fields.String(
        validate=validate.Regexp(ranking.PERIOD_PATTERN, error=f"Must be {ranking.PERIOD_RULE}."),
        metadata={"description": "a year (2026) or a month (2026-03); default: the current year"},
    )


class RankingQuerySchema(PeriodQuerySchema):
    industry = ma.fields.String(validate=validate.Length(max=80))
    enterprise_type = ma.fields.Enum(EnterpriseType, by_value=True)


class FigureSchema(ma.Schema):
    raw = ma.fields.Float(allow_none=True)
    numerator = ma.fields.Integer()
    denominator = ma.fields.Integer()
    score = ma.fields.Float(allow_none=True)
    weight = ma.fields.Float()
    applicable = ma.fields.Boolean()


class RankedBranchSchema(ma.Schema):
    rank = ma.fields.Integer(allow_none=True)
    slug = ma.fields.String()
    name = ma.fields.String()
    industry = ma.fields.String()
    enterprise_type = ma.fields.String()
    total = ma.fields.Float(allow_none=True)
    indicators = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(FigureSchema))
    computed_at = ma.fields.AwareDateTime()


class RankingSchema(ma.Schema):
    period = ma.fields.String()
    weights = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float())
    branches = ma.fields.List(ma.fields.Nested(RankedBranchSchema))
    ranked = ma.fields.Integer()
    without_figures = ma.fields.Integer(
        metadata={"description": "branches of the compared set with no figures for the period"}
    )
    oldest_computed_at = ma.fields.AwareDateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)


_WEIGHT_RANGE = validate.Range(min=0, max=ranking.MAX_WEIGHT)


class WeightsSchema(InputSchema):
    """Every indicator's weight (0 to 999.999, not all zero)."""

    class Meta:
        ordered = True

    meetings = JsonDecimal(required=True, places=3, validate=_WEIGHT_RANGE)
    attendance = JsonDecimal(required=True, places=3, validate=_WEIGHT_RANGE)
    training = JsonDecimal(required=True, places=3, validate=_WEIGHT_RANGE)
    activity = JsonDecimal(required=True, places=3, validate=_WEIGHT_RANGE)


class WeightsOutSchema(ma.Schema):
    meetings = ma.fields.Float()
    attendance = ma.fields.Float()
    training = ma.fields.Float()
    activity = ma.fields.Float()


class MedianSchema(ma.Schema):
    raw = ma.fields.Float(allow_none=True)
    score = ma.fields.Float(allow_none=True)
    branches = ma.fields.Integer(metadata={"description": "branches the indicator applies to"})
    withheld = ma.fields.Boolean(
        metadata={
            "description": "the median is not shown: fewer than "
            f"{ranking.MIN_BRANCHES_FOR_MEDIAN} branches have the indicator, so it could "
            "reveal one branch's figure"
        }
    )


class StandingSchema(ma.Schema):
    period = ma.fields.String()
    computed = ma.fields.Boolean(metadata={"description": "whether the branch has a rank"})
    rank = ma.fields.Integer(allow_none=True)
    ranked = ma.fields.Integer(metadata={"description": "how many branches the zone ranks"})
    total = ma.fields.Float(allow_none=True)
    indicators = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(FigureSchema))
    zone_medians = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(MedianSchema))
    computed_at = ma.fields.AwareDateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)


# --- views ---------------------------------------------------------------------------------------


_NAMES = {indicator: indicator.value for indicator in Indicator}


def _period(query) -> str:
    return query.get("period") or str(current_year())


def _figures(standing: ranking.Standing, weights: dict[Indicator, float] | None = None) -> dict:
    """The standing's indicators as the API shows them; `weights` (as floats) saves converting
    each figure's weight when there are thousands."""
    return {
        _NAMES[indicator]: {
            "raw": figure.shown_raw,
            "numerator": figure.numerator,
            "denominator": figure.denominator,
            "score": figure.shown_score,
            "weight": float(figure.weight) if weights is None else weights[indicator],
            "applicable": figure.denominator != 0,
        }
        for indicator, figure in standing.indicators.items()
    }


def _iso(value: datetime | None) -> str | None:
    """A timestamp as `AwareDateTime` dumps it."""
    return None if value is None else value.isoformat()


def _weights_view(weights: dict[Indicator, Decimal]) -> dict[str, float]:
    return {indicator.value: float(weight) for indicator, weight in weights.items()}


def _weights_etag(weights: dict[Indicator, Decimal]) -> dict[str, str]:
    return {indicator.value: str(weight) for indicator, weight in weights.items()}


def _encode(result: ranking.Ranking) -> bytes:
    """The zone's rankings body, encoded as `jsonify` would.

    Built here in the JSON shape `RankingSchema` documents (the values its dump gives) rather
    than dumped by marshmallow: its dump of 2,000 branches with 4 nested figures each (64,000
    fields) took a quarter of a read (profiled, tests/perf/bench_zone_reads.py). Depends on the
    ranking alone, never on the caller: the bytes are cached and served to every zone reader."""
    weights = {indicator: float(weight) for indicator, weight in result.weights.items()}
    payload = {
        "period": result.period,
        "weights": _weights_view(result.weights),
        "branches": [
            {
                "rank": s.rank,
                "slug": s.slug,
                "name": s.name,
                "industry": s.industry,
                "enterprise_type": s.enterprise_type,
                "total": s.shown_total,
                "indicators": _figures(s, weights),
                "computed_at": _iso(s.computed_at),
            }
            for s in result.standings
        ],
        "ranked": result.ranked,
        "without_figures": result.without_figures,
        "oldest_computed_at": _iso(result.oldest_computed_at),
        "note": None if result.standings else NOT_COMPUTED.format(period=result.period),
    }
    return current_app.json.response(payload).get_data()


def _not_modified_or_tag(etag_data: dict) -> None:
    """Send the tag of `etag_data` with the response, or end the request with 304 if the client
    holds it. flask-smorest's own 304 (`set_etag`) carries no `ETag`, which RFC 9110 asks of a
    304 where the 200 would have one; its tag function is used so both agree (pinned
    flask-smorest)."""
    tag = zone_blp._generate_etag(etag_data)
    if tag in request.if_none_match:
        not_modified = current_app.response_class(status=304)
        not_modified.set_etag(tag)
        abort(not_modified)  # a response, not an error: Flask sends it as it is
    zone_blp.set_etag(etag_data)


@zone_blp.route("/rankings")
class Rankings(MethodView):
    @require(Action.RANKINGS_READ)
    @zone_blp.etag
    @zone_blp.arguments(RankingQuerySchema(), location="query")
    @zone_blp.response(200, RankingSchema)
    def get(self, query):
        """Active branches ranked by their weighted indicators for `period`; filter by industry
        and enterprise type (ranked within the filtered set). Every figure shows its numerator,
        denominator, score and weight. Reads the computed figures; never recomputes. The ETag
        changes whenever anything the ranking reads changes: send it as `If-None-Match` for a
        304 while the figures stand."""
        # the caller's rights were checked (`require`) before anything is read or served
        period = _period(query)
        inputs = rankings_cache.Inputs.of(
            period, query.get("industry"), query.get("enterprise_type")
        )
        at = rankings_cache.fingerprint(db.session, period)
        _not_modified_or_tag(at.etag_data(inputs))  # 304 here, before ranking or encoding
        entry = rankings_cache.ranked(db.session, inputs, at)
        if not entry.settled:
            # ranked while the figures moved: right now, but of no fingerprint; a tag that
            # matches nothing, so no later read is answered 304 on its strength
            zone_blp.set_etag({"unsettled": uuid.uuid4().hex})
        # a response passes through flask-smorest untouched (the body is `RankingSchema`'s)
        return current_app.response_class(
            entry.encoded(_encode), mimetype=current_app.json.mimetype
        )


@zone_blp.route("/ranking-weights")
class RankingWeights(MethodView):
    @require(Action.RANKINGS_READ)
    @zone_blp.etag
    @zone_blp.response(200, WeightsOutSchema)
    def get(self):
        """Each indicator's weight in the ranking (1 unless the zone set another)."""
        weights = ranking.weights(db.session)
        zone_blp.set_etag(_weights_etag(weights))
        return _weights_view(weights)

    @require(Action.RANKING_WEIGHTS_WRITE)
    @zone_blp.etag
    @zone_blp.arguments(WeightsSchema())
    @zone_blp.response(200, WeightsOutSchema)
    def put(self, body):
        """Set every indicator's weight (needs `If-Match`): none negative, not all zero.
        Audited."""
        zone_blp.check_etag(_weights_etag(ranking.weights(db.session)))
        weights = ranking.set_weights(db.session, {Indicator(k): v for k, v in body.items()})
        zone_blp.set_etag(_weights_etag(weights))
        return _weights_view(weights)


@blp.route("/standing")
class OwnStanding(MethodView):
    @require(Action.STANDING_READ)
    @blp.arguments(PeriodQuerySchema(), location="query")
    @blp.response(200, StandingSchema)
    def get(self, query):
        """The branch's rank among the zone's ranked branches, how many there are, its own
        indicators and the zone's median per indicator. Never another branch's name or id."""
        period = _period(query)
        tenant = g.tenant
        # only aggregates and this branch's own entry leave the zone's ranking
        entry = rankings_cache.zone_ranking_for_branch(db.new_session, period)
        result = entry.ranking
        own = entry.standing_of(tenant.id)
        medians = {
            indicator.value: {
                "raw": ranking.shown(median.raw, raw=True),
                "score": ranking.shown(median.score),
                "branches": median.branches,
                "withheld": median.withheld,
            }
            for indicator, median in entry.medians().items()
        }
        note = None
        if tenant.status != TenantStatus.ACTIVE:
            note = f"Only active branches are ranked; this branch is {tenant.status.value}."
        elif own is None:
            note = NOT_COMPUTED.format(period=period)
        elif own.rank is None:
            note = "None of this branch's indicators applies for the period: it has no total."
        return {
            "period": period,
            "computed": own is not None and own.rank is not None,
            "rank": own.rank if own else None,
            "ranked": result.ranked,
            "total": own.shown_total if own else None,
            "indicators": _figures(own) if own else {},
            "zone_medians": medians,
            "computed_at": own.computed_at if own else None,
            "note": note,
        }
