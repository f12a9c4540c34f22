"""`/api/v1/zone/rankings` and `/api/v1/zone/ranking-weights`, on rows written straight into the
read model, against totals computed by hand here."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.api.helpers import assert_error
from tests.conftest import branch_admin_of
from tests.rollups.ranking_support import (
    INDICATORS,
    WEIGHTS,
    cents,
    expected_totals,
    fresh_industry,
    fresh_period,
    put_rollup,
    reset_weights,
    set_weights,
)

RANKINGS = "/api/v1/zone/rankings"

# three branches: A does well everywhere; B holds every meeting but little else; C has no
# meeting due and nobody with a training target (both not applicable), and the best activity
FIGURES = {
    "A": {"meetings": (10, 12), "attendance": (45, 50), "training": (8, 10), "activities": (12, 6)},
    "B": {"meetings": (12, 12), "attendance": (40, 50), "training": (5, 10), "activities": (6, 6)},
    "C": {"meetings": (0, 0), "attendance": (30, 40), "training": (0, 0), "activities": (3, 0)},
}


@pytest.fixture
def weights_reset(zone_admin):
    reset_weights(zone_admin)
    yield
    reset_weights(zone_admin)


def _zone(app, make_branch, figures, period, *, industry=None, **tenant_fields):
    """A branch per entry of `figures` (named `<key>-<industry>`), each with its row."""
    industry = industry or fresh_industry()
    branches = {}
    for key, fig in figures.items():
        fields = {"name": f"{key}-{industry}", "industry": industry}
        fields.update(tenant_fields.get(key, {}))
        branch = make_branch(**fields)
        put_rollup(app, branch, period, **fig)
        branches[key] = branch
    return industry, branches


def _rank(caller, period, **query):
    response = caller.get(RANKINGS, query_string={"period": period, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _by_name(body):
    return {row["name"].split("-", 1)[0]: row for row in body["branches"]}


def test_ranks_and_totals_match_a_hand_computation(app, make_branch, zone_viewer, weights_reset):
    period = fresh_period()
    industry, branches = _zone(app, make_branch, FIGURES, period)
    body = _rank(zone_viewer, period, industry=industry)

    totals = expected_totals(FIGURES, dict.fromkeys(INDICATORS, 1))
    # by hand: A (83.33 + 90 + 80 + 66.67) / 4 = 80; B (100 + 80 + 50 + 33.33) / 4 = 65.83;
    # C: meetings and training not applicable, (75 + 100) / 2 = 87.5
    assert totals == {"A": Fraction(80), "B": Fraction(790, 12), "C": Fraction(175, 2)}
    assert [r["name"].split("-")[0] for r in body["branches"]] == ["C", "A", "B"]
    assert [r["rank"] for r in body["branches"]] == [1, 2, 3]
    rows = _by_name(body)
    for key, total in totals.items():
        assert rows[key]["total"] == cents(total), key
        assert rows[key]["slug"] == branches[key].slug
        assert rows[key]["industry"] == industry
        assert rows[key]["enterprise_type"] == "private"
        assert rows[key]["computed_at"]
    assert body["ranked"] == 3 and body["without_figures"] == 0
    assert body["oldest_computed_at"] == min(r["computed_at"] for r in body["branches"])
    assert body["note"] is None

    a = rows["A"]["indicators"]
    assert a["meetings"] == {
        "raw": 0.8333,
        "numerator": 10,
        "denominator": 12,
        "score": 83.33,
        "weight": 1.0,
        "applicable": True,
    }
    assert a["activity"]["raw"] == 2.0 and a["activity"]["score"] == 66.67
    c = rows["C"]["indicators"]
    assert c["meetings"]["applicable"] is False and c["meetings"]["score"] is None
    assert c["meetings"]["raw"] is None and c["meetings"]["denominator"] == 0
    assert c["training"]["applicable"] is False
    # no party member: activity per max(party members, 1); C is the set's best
    assert c["activity"]["denominator"] == 1 and c["activity"]["score"] == 100.0


def test_equal_totals_share_a_rank_and_the_next_one_skips(app, make_branch, zone_admin):
    period = fresh_period()
    same = {"meetings": (3, 4), "attendance": (8, 10), "training": (1, 2), "activities": (2, 4)}
    figures = {
        "Alpha": {
            "meetings": (4, 4),
            "attendance": (10, 10),
            "training": (2, 2),
            "activities": (4, 4),
        },
        "Gamma": same,
        "Beta": same,
        "Delta": {
            "meetings": (1, 4),
            "attendance": (1, 10),
            "training": (0, 2),
            "activities": (0, 4),
        },
    }
    industry, _ = _zone(app, make_branch, figures, period)
    body = _rank(zone_admin, period, industry=industry)
    assert [(r["rank"], r["name"].split("-")[0]) for r in body["branches"]] == [
        (1, "Alpha"),
        (2, "Beta"),  # ties are listed by name
        (2, "Gamma"),
        (4, "Delta"),
    ]
    assert body["branches"][1]["total"] == body["branches"][2]["total"]


def test_filters_rank_within_the_set_and_rescore_activity(
    app, make_branch, zone_admin, weights_reset
):
    period = fresh_period()
    industry, branches = _zone(
        app,
        make_branch,
        FIGURES,
        period,
        A={"enterprise_type": "foreign-funded"},
        B={"enterprise_type": "foreign-funded"},
    )
    other = make_branch(name=f"Z-{industry}", industry=fresh_industry())
    put_rollup(app, other, period, **FIGURES["A"])

    body = _rank(zone_admin, period, industry=industry, enterprise_type="foreign-funded")
    subset = {k: FIGURES[k] for k in ("A", "B")}
    totals = expected_totals(subset, dict.fromkeys(INDICATORS, 1))
    assert [r["slug"] for r in body["branches"]] == [branches["A"].slug, branches["B"].slug]
    rows = _by_name(body)
    # without C, A has the best activity: 100, and B half of it
    assert rows["A"]["indicators"]["activity"]["score"] == 100.0
    assert rows["B"]["indicators"]["activity"]["score"] == 50.0
    assert rows["A"]["total"] == cents(totals["A"]) == 88.33  # (83.33 + 90 + 80 + 100) / 4
    assert rows["B"]["total"] == cents(totals["B"])

    by_industry = _rank(zone_admin, period, industry=industry)
    assert other.slug not in {r["slug"] for r in by_industry["branches"]}
    assert len(by_industry["branches"]) == 3


def test_only_active_branches_are_ranked(app, make_branch, zone_admin, weights_reset):
    period = fresh_period()
    industry, branches = _zone(
        app,
        make_branch,
        {**FIGURES, "S": FIGURES["A"], "R": FIGURES["A"]},
        period,
        S={"status": "suspended"},
        R={"status": "archived"},
    )
    make_branch(name=f"N-{industry}", industry=industry)  # active, no figures yet
    body = _rank(zone_admin, period, industry=industry)
    slugs = {r["slug"] for r in body["branches"]}
    assert slugs == {branches[k].slug for k in ("A", "B", "C")}
    assert body["without_figures"] == 1


def test_weights_change_the_order_and_leave_out_not_applicable_ones(
    app, make_branch, zone_admin, weights_reset
):
    period = fresh_period()
    industry, _ = _zone(app, make_branch, FIGURES, period)
    weights = {"meetings": 10, "attendance": 1, "training": 1, "activity": 1}
    assert set_weights(zone_admin, **weights) == {k: float(v) for k, v in weights.items()}

    body = _rank(zone_admin, period, industry=industry)
    totals = expected_totals(FIGURES, weights)
    # B's full meetings now weigh ten times; C's total still leaves meetings out: 87.5
    assert [r["name"].split("-")[0] for r in body["branches"]] == ["B", "C", "A"]
    rows = _by_name(body)
    for key, total in totals.items():
        assert rows[key]["total"] == cents(total)
    assert rows["C"]["total"] == 87.5
    assert rows["B"]["indicators"]["meetings"]["weight"] == 10.0
    assert body["weights"] == {k: float(v) for k, v in weights.items()}


def test_weights_are_audited_and_need_the_current_etag(zone_admin, weights_reset):
    current = zone_admin.get(WEIGHTS)
    body = {**current.json, "training": 2.5}
    assert_error(zone_admin.put(WEIGHTS, json=body), 428)
    assert_error(zone_admin.put(WEIGHTS, json=body, headers={"If-Match": '"stale"'}), 412)

    changed = zone_admin.put(WEIGHTS, json=body, headers={"If-Match": current.headers["ETag"]})
    assert changed.status_code == 200, changed.json
    assert changed.json["training"] == 2.5
    assert changed.headers["ETag"] != current.headers["ETag"]
    assert zone_admin.get(WEIGHTS).headers["ETag"] == changed.headers["ETag"]

    events = zone_admin.get(
        "/api/v1/zone/audit", query_string={"object_type": "ranking_weights", "page_size": 100}
    ).json
    training = [e for e in events if e["object_id"] == "training"]
    assert training, events
    assert training[0]["changes"]["weight"]["after"] == "2.500"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"meetings": -1}, "meetings"),
        ({"activity": "much"}, "activity"),
        ({"leadership": 3}, "leadership"),
        ({"attendance": 1000}, "attendance"),
        (dict.fromkeys(INDICATORS, 0), "meetings"),
    ],
)
def test_bad_weights_are_refused_and_nothing_is_written(zone_admin, weights_reset, change, field):
    def audited():
        query = {"object_type": "ranking_weights", "page_size": 100}
        return len(zone_admin.get("/api/v1/zone/audit", query_string=query).json)

    before, events = zone_admin.get(WEIGHTS), audited()
    body = {**before.json, "training": 7, **change}
    response = zone_admin.put(WEIGHTS, json=body, headers={"If-Match": before.headers["ETag"]})
    error = assert_error(response, 422, field)
    if change == dict.fromkeys(INDICATORS, 0):
        assert "zero" in error["message"]
    assert zone_admin.get(WEIGHTS).json == before.json
    assert audited() == events


def test_missing_indicator_is_refused(zone_admin, weights_reset):
    current = zone_admin.get(WEIGHTS)
    body = {"meetings": 1, "attendance": 1, "training": 1}
    response = zone_admin.put(WEIGHTS, json=body, headers={"If-Match": current.headers["ETag"]})
    assert_error(response, 422, "activity")


@pytest.mark.parametrize("period", ["26", "2026-13", "2026-3", "2026-00", "abcd", "2026-03-01"])
def test_period_must_be_a_year_or_a_month(zone_admin, period):
    response = zone_admin.get(RANKINGS, query_string={"period": period})
    assert_error(response, 422, "period", location="query")


def test_a_period_without_figures_is_an_empty_ranking_with_a_note(zone_admin):
    body = _rank(zone_admin, fresh_period(month=True))
    assert body["branches"] == [] and body["ranked"] == 0
    assert body["oldest_computed_at"] is None
    assert "not computed" in body["note"].lower() or "no figures" in body["note"].lower()


def test_month_periods_have_no_training_indicator(app, make_branch, zone_admin, weights_reset):
    period = fresh_period(month=True)
    month = {k: {**v, "training": (0, 0)} for k, v in FIGURES.items()}
    industry, _ = _zone(app, make_branch, month, period)
    body = _rank(zone_admin, period, industry=industry)
    for row in body["branches"]:
        assert row["indicators"]["training"]["applicable"] is False
    totals = expected_totals(month, dict.fromkeys(INDICATORS, 1))
    assert {k: r["total"] for k, r in _by_name(body).items()} == {
        k: cents(t) for k, t in totals.items()
    }


def test_branch_roles_cannot_read_rankings_or_set_weights(make_branch, as_groups):
    admin = branch_admin_of(as_groups, make_branch())
    assert_error(admin.get(RANKINGS), 403)
    assert_error(admin.get(WEIGHTS), 403)
    body = dict.fromkeys(INDICATORS, 1)
    assert_error(admin.put(WEIGHTS, json=body, headers={"If-Match": '"x"'}), 403)


def test_a_zone_viewer_reads_weights_but_cannot_set_them(zone_viewer):
    current = zone_viewer.get(WEIGHTS)
    assert current.status_code == 200 and set(current.json) == set(INDICATORS)
    response = zone_viewer.put(
        WEIGHTS, json=current.json, headers={"If-Match": current.headers["ETag"]}
    )
    assert_error(response, 403)
