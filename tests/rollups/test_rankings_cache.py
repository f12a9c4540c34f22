"""The memoized rankings (`service.rollups.rankings_cache`): a repeated read is served from the
cache, byte for byte, without ranking again; every kind of change to what the ranking reads is
seen at once; filters and periods never share an entry; the fingerprint is the ETag
(`If-None-Match` → 304); the branch standing reuses the zone's entry and still shows no other
branch. Whether a read ranked is observed through the SQL it sent (the ranking's query reads
`meetings_held`; the fingerprint does not) and the cache's hit and miss counters."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from tests.conftest import branch_admin_of, branch_member_of
from tests.rollups.ranking_support import (
    fresh_industry,
    fresh_period,
    put_rollup,
    reset_weights,
    set_weights,
)

RANKINGS = "/api/v1/zone/rankings"
TENANTS = "/api/v1/zone/tenants"

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
    """Three branches with rows in a period and an industry of their own."""
    period, industry = fresh_period(), fresh_industry()
    branches = {}
    for key, figures in FIGURES.items():
        branch = make_branch(name=f"缓存{key}-{industry}", industry=industry)
        put_rollup(app, branch, period, **figures)
        branches[key] = branch
    return period, industry, branches


@pytest.fixture
def cache(app):
    from service.rollups.rankings_cache import cache_of

    return cache_of(app)


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    """The SQL statements the app sends while the test runs."""
    from service.database import db

    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _ranked_now(sent: list[str]) -> bool:
    """Whether the statements include the ranking's own query (the figures' columns)."""
    return any("meetings_held" in s for s in sent)


@contextlib.contextmanager
def _counting(cache) -> Iterator[dict[str, int]]:
    """The cache's hits and misses during the block."""
    counts = {"hits": cache.hits, "misses": cache.misses}
    yield counts
    counts["hits"], counts["misses"] = cache.hits - counts["hits"], cache.misses - counts["misses"]


def _read(caller, period, **query):
    response = caller.get(RANKINGS, query_string={"period": period, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def _slugs(response) -> set[str]:
    return {row["slug"] for row in response.json["branches"]}


def _row(response, tenant) -> dict:
    return next(r for r in response.json["branches"] if r["slug"] == tenant.slug)


def _in_branch(app, tenant, change) -> None:
    """Run `change(session)` in the branch's own context (its rows are tenant-owned) and
    commit."""
    from service.database import db
    from tenants.context import Context
    from tenants.isolation import bind_context

    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.tenant(tenant.id))
        change(session)
        session.commit()
        session.close()


def _its_row(session, period):
    from service.rollups.models import BranchRollup

    return session.scalars(select(BranchRollup).where(BranchRollup.period == period)).one()


def _rewrite(app, tenant, period, *, by: timedelta = timedelta(microseconds=1)) -> None:
    """A recompute that finds the same figures: only `computed_at` moves (by `by`)."""

    def change(session):
        row = _its_row(session, period)
        row.computed_at = row.computed_at + by

    _in_branch(app, tenant, change)


def _patch_tenant(zone_admin, tenant, **changes):
    current = zone_admin.get(f"{TENANTS}/{tenant.slug}")
    response = zone_admin.patch(
        f"{TENANTS}/{tenant.slug}", json=changes, headers={"If-Match": current.headers["ETag"]}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


# --- hits ----------------------------------------------------------------------------------------


def test_a_second_read_is_served_from_the_cache_byte_for_byte(
    zone, zone_admin, zone_viewer, cache, statements
):
    period, industry, _ = zone
    with _counting(cache) as first:
        cold = _read(zone_admin, period, industry=industry)
    assert first == {"hits": 0, "misses": 1}
    assert _ranked_now(statements)

    statements.clear()
    with _counting(cache) as second:
        warm = _read(zone_viewer, period, industry=industry)  # another caller, same answer
    assert second == {"hits": 1, "misses": 0}
    assert not _ranked_now(statements)
    assert warm.get_data() == cold.get_data()
    assert warm.headers["ETag"] == cold.headers["ETag"]
    assert warm.mimetype == cold.mimetype == "application/json"
    assert len(warm.json["branches"]) == 3


def test_permissions_are_checked_before_the_cache(zone, zone_admin, as_groups, cache):
    period, industry, branches = zone
    primed = _read(zone_admin, period, industry=industry)
    outsider = branch_admin_of(as_groups, branches["A"])
    for headers in ({}, {"If-None-Match": primed.headers["ETag"]}):
        with _counting(cache) as counts:
            response = outsider.get(
                RANKINGS, query_string={"period": period, "industry": industry}, headers=headers
            )
        assert response.status_code == 403
        assert counts == {"hits": 0, "misses": 0}
        assert branches["B"].name not in response.get_data(as_text=True)


# --- every change is seen ------------------------------------------------------------------------


def test_a_recompute_with_the_same_figures_is_seen(app, zone, zone_admin, cache, statements):
    period, industry, branches = zone
    before = _read(zone_admin, period, industry=industry)
    _rewrite(app, branches["B"], period)  # one microsecond later: the smallest change there is

    statements.clear()
    with _counting(cache) as counts:
        after = _read(zone_admin, period, industry=industry)
    assert counts == {"hits": 0, "misses": 1} and _ranked_now(statements)
    assert _row(after, branches["B"])["computed_at"] != _row(before, branches["B"])["computed_at"]
    assert after.headers["ETag"] != before.headers["ETag"]
    # the figures themselves are the same
    assert _row(after, branches["B"])["total"] == _row(before, branches["B"])["total"]


def test_a_rewrite_by_a_worker_whose_clock_is_behind_is_seen(app, zone, zone_admin, cache):
    period, industry, branches = zone
    before = _read(zone_admin, period, industry=industry)
    _rewrite(app, branches["A"], period, by=-timedelta(seconds=5))
    with _counting(cache) as counts:
        after = _read(zone_admin, period, industry=industry)
    assert counts["misses"] == 1
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_new_and_a_deleted_row_are_seen(app, make_branch, zone, zone_admin, cache):
    period, industry, branches = zone
    late = make_branch(name=f"缓存D-{industry}", industry=industry)
    before = _read(zone_admin, period, industry=industry)
    assert before.json["without_figures"] == 1 and late.slug not in _slugs(before)

    put_rollup(app, late, period, **FIGURES["A"])
    with _counting(cache) as counts:
        added = _read(zone_admin, period, industry=industry)
    assert counts["misses"] == 1
    assert late.slug in _slugs(added) and added.json["without_figures"] == 0

    _in_branch(app, branches["C"], lambda session: session.delete(_its_row(session, period)))
    with _counting(cache) as counts:
        deleted = _read(zone_admin, period, industry=industry)
    assert counts["misses"] == 1
    assert branches["C"].slug not in _slugs(deleted)
    assert deleted.json["without_figures"] == 1


def test_a_weight_change_is_seen_and_undoing_it_gives_the_first_answer(zone, zone_admin, cache):
    period, industry, _ = zone
    before = _read(zone_admin, period, industry=industry)
    set_weights(zone_admin, meetings=10)
    with _counting(cache) as counts:
        weighted = _read(zone_admin, period, industry=industry)
    assert counts["misses"] == 1
    assert weighted.json["weights"]["meetings"] == 10.0
    assert weighted.headers["ETag"] != before.headers["ETag"]
    assert [r["total"] for r in weighted.json["branches"]] != [
        r["total"] for r in before.json["branches"]
    ]

    set_weights(zone_admin, meetings=1)
    undone = _read(zone_admin, period, industry=industry)
    # the same state as at first: the same bytes, the same tag
    assert undone.get_data() == before.get_data()
    assert undone.headers["ETag"] == before.headers["ETag"]


@pytest.mark.parametrize("status", ["suspended", "archived"])
def test_a_tenant_status_change_is_seen(zone, zone_admin, cache, status):
    period, industry, branches = zone
    before = _read(zone_admin, period, industry=industry)
    assert branches["A"].slug in _slugs(before)

    _patch_tenant(zone_admin, branches["A"], status=status)
    with _counting(cache) as counts:
        closed = _read(zone_admin, period, industry=industry)
    assert counts["misses"] == 1
    assert branches["A"].slug not in _slugs(closed)
    assert closed.headers["ETag"] != before.headers["ETag"]

    _patch_tenant(zone_admin, branches["A"], status="active")
    reopened = _read(zone_admin, period, industry=industry)
    assert branches["A"].slug in _slugs(reopened)
    assert reopened.headers["ETag"] not in (before.headers["ETag"], closed.headers["ETag"])


def test_an_industry_and_a_name_change_are_seen(zone, zone_admin, cache):
    period, industry, branches = zone
    _read(zone_admin, period, industry=industry)
    elsewhere = fresh_industry()
    _read(zone_admin, period, industry=elsewhere)  # cached too: empty

    _patch_tenant(zone_admin, branches["B"], industry=elsewhere)
    with _counting(cache) as counts:
        left = _read(zone_admin, period, industry=industry)
        joined = _read(zone_admin, period, industry=elsewhere)
    assert counts == {"hits": 0, "misses": 2}
    assert _slugs(left) == {branches["A"].slug, branches["C"].slug}
    assert _slugs(joined) == {branches["B"].slug}
    assert joined.json["branches"][0]["industry"] == elsewhere

    _patch_tenant(zone_admin, branches["B"], name="改名支部-缓存")
    renamed = _read(zone_admin, period, industry=elsewhere)
    assert renamed.json["branches"][0]["name"] == "改名支部-缓存"


def test_a_change_during_the_ranking_is_served_once_and_not_kept(
    app, zone, zone_admin, cache, monkeypatch
):
    """The figures move between the fingerprint and the ranking: the answer is fresh, but of no
    fingerprint, so it is not kept and its tag earns no 304."""
    from service.rollups import ranking

    period, industry, branches = zone
    real_rank = ranking.rank

    def rank_then_recompute(session, **kwargs):
        result = real_rank(session, **kwargs)
        _rewrite(app, branches["A"], period)  # another worker commits meanwhile
        return result

    monkeypatch.setattr(ranking, "rank", rank_then_recompute)
    moving = _read(zone_admin, period, industry=industry)
    monkeypatch.setattr(ranking, "rank", real_rank)

    with _counting(cache) as counts:
        response = zone_admin.get(
            RANKINGS,
            query_string={"period": period, "industry": industry},
            headers={"If-None-Match": moving.headers["ETag"]},
        )
    assert response.status_code == 200
    assert counts == {"hits": 0, "misses": 1}  # nothing was kept
    assert response.headers["ETag"] != moving.headers["ETag"]
    assert _read(zone_admin, period, industry=industry).get_data() == response.get_data()


# --- entries never mix ---------------------------------------------------------------------------


def test_filters_and_periods_never_share_an_entry(app, make_branch, zone, zone_admin, cache):
    period, industry, branches = zone
    _patch_tenant(zone_admin, branches["B"], enterprise_type="foreign-funded")
    other_period = fresh_period()
    put_rollup(app, branches["A"], other_period, **FIGURES["B"])
    month = f"{period}-03"
    put_rollup(app, branches["C"], month, **FIGURES["A"])
    asks = {
        "period": {},
        "industry": {"industry": industry},
        "type": {"industry": industry, "enterprise_type": "foreign-funded"},
        "private": {"industry": industry, "enterprise_type": "private"},
    }
    first = {name: _read(zone_admin, period, **query) for name, query in asks.items()}
    first["other period"] = _read(zone_admin, other_period, industry=industry)
    first["month"] = _read(zone_admin, month, industry=industry)

    assert _slugs(first["industry"]) == {b.slug for b in branches.values()}
    assert _slugs(first["type"]) == {branches["B"].slug}
    assert _slugs(first["private"]) == {branches["A"].slug, branches["C"].slug}
    assert _slugs(first["other period"]) == {branches["A"].slug}
    assert _slugs(first["month"]) == {branches["C"].slug}
    assert first["period"].json["period"] == period and first["month"].json["period"] == month
    assert len({r.get_data() for r in first.values()}) == len(first)
    assert len({r.headers["ETag"] for r in first.values()}) == len(first)
    # activity is rescored within each set: B alone is its set's best; beside C, a third
    b_type = first["type"].json["branches"][0]["indicators"]["activity"]["score"]
    b_all = _row(first["industry"], branches["B"])["indicators"]["activity"]["score"]
    assert (b_type, b_all) == (100.0, 33.33)

    with _counting(cache) as counts:
        again = {name: _read(zone_admin, period, **query) for name, query in asks.items()}
        again["other period"] = _read(zone_admin, other_period, industry=industry)
        again["month"] = _read(zone_admin, month, industry=industry)
    assert counts == {"hits": len(first), "misses": 0}
    for name, response in again.items():
        assert response.get_data() == first[name].get_data(), name


def test_the_cache_is_bounded(app):
    """Least recently used inputs go first; an entry is replaced, not kept beside its
    successor."""
    from service.rollups.ranking import Ranking
    from service.rollups.rankings_cache import Entry, Fingerprint, Inputs, RankingCache

    small = RankingCache(max_entries=2)
    at = Fingerprint((1,), (2,), (3,))
    later = Fingerprint((2,), (2,), (3,))
    for period in ("3990", "3991"):
        small.put(Inputs(period), Entry(at, Ranking(period=period, weights={})))
    assert small.get(Inputs("3990"), at) is not None  # now the most recent
    small.put(Inputs("3992"), Entry(at, Ranking(period="3992", weights={})))
    assert len(small) == 2 and small.get(Inputs("3991"), at) is None
    small.put(Inputs("3990"), Entry(later, Ranking(period="3990", weights={})))
    assert len(small) == 2
    assert small.get(Inputs("3990"), at) is None and small.get(Inputs("3990"), later)
    with pytest.raises(ValueError):
        small.put(Inputs("3993"), Entry(None, Ranking(period="3993", weights={})))


# --- ETags ---------------------------------------------------------------------------------------


def test_if_none_match_gives_304_until_something_changes(app, zone, zone_admin, cache):
    period, industry, branches = zone
    first = _read(zone_admin, period, industry=industry)
    tag = first.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")  # strong

    query = {"period": period, "industry": industry}
    with _counting(cache) as counts:
        unchanged = zone_admin.get(RANKINGS, query_string=query, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.get_data() == b"" and unchanged.headers["ETag"] == tag
    assert counts == {"hits": 0, "misses": 0}  # answered before the cache was even asked

    # another filter is another resource: the tag does not carry over
    other = zone_admin.get(
        RANKINGS, query_string={"period": period}, headers={"If-None-Match": tag}
    )
    assert other.status_code == 200 and other.headers["ETag"] != tag

    _rewrite(app, branches["C"], period)
    changed = zone_admin.get(RANKINGS, query_string=query, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert _row(changed, branches["C"])["computed_at"] != _row(first, branches["C"])["computed_at"]
    again = zone_admin.get(
        RANKINGS, query_string=query, headers={"If-None-Match": changed.headers["ETag"]}
    )
    assert again.status_code == 304


# --- the branch standing -------------------------------------------------------------------------


def _standing(caller, tenant, period):
    response = caller.get(f"/api/v1/t/{tenant.slug}/standing", query_string={"period": period})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_the_standing_reuses_the_zone_entry_and_shows_no_other_branch(
    app, zone, zone_admin, as_groups, cache, statements
):
    period, _, branches = zone
    zone_wide = _read(zone_admin, period)  # the unfiltered ranking: the standing's
    member = branch_member_of(as_groups, branches["A"])

    statements.clear()
    with _counting(cache) as counts:
        own = _standing(member, branches["A"], period)
    assert counts == {"hits": 1, "misses": 0} and not _ranked_now(statements)
    body = own.json
    row = _row(zone_wide, branches["A"])
    assert (body["rank"], body["ranked"], body["total"]) == (
        row["rank"],
        zone_wide.json["ranked"],
        row["total"],
    )
    assert body["indicators"] == row["indicators"]
    text = own.get_data(as_text=True)
    for other in ("B", "C"):
        assert branches[other].slug not in text
        assert branches[other].name not in text
        assert str(branches[other].id) not in text
        assert branches[other].id.hex not in text

    # another branch's standing from the same entry: its own figures, not A's
    with _counting(cache) as counts:
        theirs = _standing(branch_admin_of(as_groups, branches["B"]), branches["B"], period)
    assert counts == {"hits": 1, "misses": 0}
    assert theirs.json["indicators"] == _row(zone_wide, branches["B"])["indicators"]
    assert branches["A"].name not in theirs.get_data(as_text=True)

    # a change reaches the standing at once
    _rewrite(app, branches["A"], period)
    with _counting(cache) as counts:
        fresh = _standing(member, branches["A"], period)
    assert counts == {"hits": 0, "misses": 1}
    assert fresh.json["computed_at"] != body["computed_at"]


def test_an_archived_branch_standing_is_seen_at_once(zone, zone_admin, as_groups, cache):
    period, _, branches = zone
    admin = branch_admin_of(as_groups, branches["B"])
    before = _standing(admin, branches["B"], period).json
    assert before["rank"] is not None and before["ranked"] == 3
    _patch_tenant(zone_admin, branches["B"], status="archived")  # its space stays readable
    try:
        with _counting(cache) as counts:
            archived = _standing(admin, branches["B"], period).json
            other = _standing(branch_admin_of(as_groups, branches["A"]), branches["A"], period)
        assert counts == {"hits": 1, "misses": 1}  # ranked again once, then shared
        assert archived["rank"] is None and archived["computed"] is False
        assert archived["ranked"] == other.json["ranked"] == 2
        assert "archived" in archived["note"]
    finally:
        _patch_tenant(zone_admin, branches["B"], status="active")


# --- the fingerprint itself ----------------------------------------------------------------------


def test_the_fingerprint_sees_a_microsecond(app, zone, db_session):
    """Exact sums on either backend: one row one microsecond later changes the fingerprint,
    and the same state gives the same one."""
    from service.rollups.rankings_cache import fingerprint
    from tenants.context import Context
    from tenants.isolation import bind_context

    period, _, branches = zone
    bind_context(db_session, Context.zone())
    first = fingerprint(db_session, period)
    db_session.rollback()
    assert fingerprint(db_session, period) == first
    db_session.rollback()
    _rewrite(app, branches["A"], period)
    second = fingerprint(db_session, period)
    assert second != first and second.tenants == first.tenants
    assert second.rollups[0] == first.rollups[0]  # the same rows: only a timestamp moved
