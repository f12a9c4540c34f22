"""`/api/v1/t/<slug>/standing`: a branch's own rank, the number ranked, its own figures and the
zone's medians (withheld below five branches) — never another branch's name or slug."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import assert_error
from tests.conftest import Caller, branch_admin_of, branch_member_of
from tests.rollups.ranking_support import fresh_period, put_rollup, reset_weights

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


@pytest.fixture
def zone(app, make_branch, weights_reset):
    """Three ranked branches in a period of their own (the standing compares the whole zone)."""
    period = fresh_period()
    mark = uuid.uuid4().hex[:6]
    branches = {}
    for key, figures in FIGURES.items():
        branch = make_branch(name=f"独特支部{key}{mark}")
        put_rollup(app, branch, period, **figures)
        branches[key] = branch
    return period, branches


def standing(caller, tenant, period):
    return caller.get(f"/api/v1/t/{tenant.slug}/standing", query_string={"period": period})


def test_a_branch_sees_its_rank_the_count_and_the_zone_medians(zone, as_groups, zone_admin):
    period, branches = zone
    response = standing(branch_admin_of(as_groups, branches["A"]), branches["A"], period)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    # C 87.5, A 80, B 65.83 (see test_rankings)
    assert (body["rank"], body["ranked"], body["total"]) == (2, 3, 80.0)
    assert body["computed"] is True and body["note"] is None
    assert body["indicators"]["meetings"]["numerator"] == 10
    assert body["indicators"]["meetings"]["denominator"] == 12
    # three branches: every median would come close to naming another branch's figure
    assert body["zone_medians"] == {
        "meetings": {"raw": None, "score": None, "branches": 2, "withheld": True},
        "attendance": {"raw": None, "score": None, "branches": 3, "withheld": True},
        "training": {"raw": None, "score": None, "branches": 2, "withheld": True},
        "activity": {"raw": None, "score": None, "branches": 3, "withheld": True},
    }

    text = response.get_data(as_text=True)
    for other in ("B", "C"):
        assert branches[other].slug not in text
        assert branches[other].name not in text
        assert str(branches[other].id) not in text
        assert branches[other].id.hex not in text

    ranked = zone_admin.get("/api/v1/zone/rankings", query_string={"period": period}).json
    row = next(r for r in ranked["branches"] if r["slug"] == branches["A"].slug)
    assert row["indicators"] == body["indicators"] and row["rank"] == body["rank"]


FIVE = [
    {"meetings": (6, 12), "attendance": (10, 20), "training": (2, 4), "activities": (4, 2)},
    {"meetings": (9, 12), "attendance": (15, 20), "training": (3, 4), "activities": (6, 2)},
    {"meetings": (12, 12), "attendance": (20, 20), "training": (4, 4), "activities": (2, 2)},
    {"meetings": (3, 12), "attendance": (5, 20), "training": (1, 4), "activities": (8, 2)},
    {"meetings": (0, 0), "attendance": (0, 20), "training": (0, 4), "activities": (0, 2)},
]


def test_medians_are_shown_where_five_branches_have_the_indicator(
    app, make_branch, as_groups, weights_reset
):
    period = fresh_period()
    branches = [make_branch() for _ in FIVE]
    for branch, figures in zip(branches, FIVE, strict=True):
        put_rollup(app, branch, period, **figures)
    body = standing(branch_admin_of(as_groups, branches[0]), branches[0], period).json
    assert body["zone_medians"] == {
        # meetings applies to four (the fifth has none due): still withheld
        "meetings": {"raw": None, "score": None, "branches": 4, "withheld": True},
        "attendance": {"raw": 0.5, "score": 50.0, "branches": 5, "withheld": False},
        "training": {"raw": 0.5, "score": 50.0, "branches": 5, "withheld": False},
        # activities per party member 2, 3, 1, 4, 0: the median 2 against the best 4
        "activity": {"raw": 2.0, "score": 50.0, "branches": 5, "withheld": False},
    }


def test_members_and_read_tokens_see_the_standing(zone, as_groups):
    period, branches = zone
    b = branches["B"]
    admin = branch_admin_of(as_groups, b)
    made = admin.post(f"/api/v1/t/{b.slug}/api-tokens", json={"name": "只读", "scope": "read"})
    assert made.status_code == 201, made.json
    for caller in (branch_member_of(as_groups, b), Caller(admin.client, made.json["secret"])):
        response = standing(caller, b, period)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert (response.json["rank"], response.json["ranked"]) == (3, 3)


def test_zone_roles_get_403_and_other_branches_404(zone, as_groups, zone_admin, zone_viewer):
    period, branches = zone
    a = branches["A"]
    assert_error(standing(zone_admin, a, period), 403)
    assert_error(standing(zone_viewer, a, period), 403)
    assert_error(standing(branch_admin_of(as_groups, branches["B"]), a, period), 404)


def test_without_figures_the_standing_says_so(make_branch, as_groups):
    branch = make_branch()
    response = standing(branch_admin_of(as_groups, branch), branch, fresh_period())
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["computed"] is False and body["rank"] is None and body["ranked"] == 0
    assert body["indicators"] == {}
    assert "No figures are computed" in body["note"]


def test_an_archived_branch_is_not_ranked(app, make_branch, as_groups, weights_reset):
    period = fresh_period()
    active, archived = make_branch(), make_branch(status="archived")
    for branch in (active, archived):
        put_rollup(app, branch, period, **FIGURES["A"])
    body = standing(branch_admin_of(as_groups, archived), archived, period).json
    assert body["rank"] is None and body["ranked"] == 1
    assert "archived" in body["note"]


@pytest.mark.parametrize("period", ["2026-13", "20261", "x"])
def test_period_is_validated(make_branch, as_groups, period):
    branch = make_branch()
    response = standing(branch_admin_of(as_groups, branch), branch, period)
    assert_error(response, 422, "period", location="query")
