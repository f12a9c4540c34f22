"""Helpers of the ranking tests: rollup rows written straight into the read model (in each
branch's own context: they are tenant-owned), a period no other test uses, the zone's weights
put back, and an independent computation of the expected scores."""

from __future__ import annotations

import itertools
import uuid
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from tests.conftest import Caller

_PERIODS = itertools.count()
INDICATORS = ("meetings", "attendance", "training", "activity")
WEIGHTS = "/api/v1/zone/ranking-weights"


def fresh_period(month: bool = False) -> str:
    """A period no other test of the session writes rows for (years far in the future)."""
    year = 3000 + next(_PERIODS)
    return f"{year}-03" if month else str(year)


def fresh_industry() -> str:
    return f"行业-{uuid.uuid4().hex[:8]}"


def put_rollup(app, tenant, period, *, meetings, attendance, training, activities) -> None:
    """Write `tenant`'s row for `period`, in its own context: `meetings=(held, due)`,
    `attendance=(present, records)`, `training=(compliant, with_target)`,
    `activities=(held, party_members)`."""
    from service.database import db
    from service.rollups.models import BranchRollup
    from tenants.context import Context
    from tenants.isolation import bind_context

    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant.id))
        session.add(
            BranchRollup(
                tenant_id=tenant.id,
                period=period,
                meetings_held=meetings[0],
                meetings_due=meetings[1],
                attendance_present=attendance[0],
                attendance_records=attendance[1],
                training_compliant=training[0],
                training_with_target=training[1],
                activities_held=activities[0],
                party_members=activities[1],
                members_total=activities[1],
                party_full=activities[1],
            )
        )
        session.commit()
        session.close()


def set_weights(zone_admin: Caller, **weights) -> dict:
    current = zone_admin.get(WEIGHTS)
    assert current.status_code == 200, current.get_data(as_text=True)
    body = {**current.json, **weights}
    response = zone_admin.put(WEIGHTS, json=body, headers={"If-Match": current.headers["ETag"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def reset_weights(zone_admin: Caller) -> None:
    """The zone's weights back at their defaults (1 each)."""
    set_weights(zone_admin, **dict.fromkeys(INDICATORS, 1))


def cents(value: Fraction) -> float:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected_totals(figures: dict[str, dict], weights: dict[str, int]) -> dict[str, Fraction]:
    """By hand: `figures` is {branch: {meetings: (n, d), attendance: (n, d), training: (n, d),
    activities: (held, party members)}}; an empty denominator leaves the indicator (and its
    weight) out; activity is scored against the best of the set."""

    def per_member(branch):
        held, members = figures[branch]["activities"]
        return Fraction(held, members if members > 0 else 1)

    best = max(per_member(b) for b in figures)
    totals = {}
    for branch, fig in figures.items():
        weighted, weight_sum = Fraction(0), Fraction(0)
        for name in ("meetings", "attendance", "training"):
            n, d = fig[name]
            if d:
                weighted += weights[name] * Fraction(n, d) * 100
                weight_sum += weights[name]
        activity = per_member(branch) / best * 100 if best else Fraction(0)
        weighted += weights["activity"] * activity
        weight_sum += weights["activity"]
        totals[branch] = weighted / weight_sum
    return totals
