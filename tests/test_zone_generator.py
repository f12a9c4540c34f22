"""The synthetic zone generator (`service.zone_generator`, `pmsc demo --size`) and the demo zone's
year of activities: deterministic from the seed, valid by the domain's rules (checked in SQL),
isolated per branch, and giving the zone's rankings real, differing figures.

Three `small` zones are loaded into the module's database (seed 7 twice, under two slug
prefixes, and seed 8), all planned from the same instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import bindparam, select, text

from service.activities.models import Activity, ActivityKind
from service.activities.service import check_activity
from service.cli import cli
from service.database import db
from service.demo import DEMO_BRANCHES, seed_demo_zone
from service.members.id_card import parse_id_card
from service.members.models import Member, PartyGroup
from service.rollups.jobs import recompute_tenants
from service.zone_generator import (
    DEFAULT_SEED,
    SIZES,
    ZoneSize,
    branch_sizes,
    bulk_insert,
    load_zone,
    refresh_statistics,
    zone_today,
)
from tenants.context import Context
from tenants.errors import CrossTenantWrite, NoTenantContext
from tenants.isolation import bind_context
from tenants.orm import UTCDateTime, uuid7
from tenants.registry import Tenant
from tests.conftest import environment
from tests.test_cli import migrated

NOW = datetime.now(UTC)  # every load of the module plans from the same instant
SMALL = SIZES["small"]
# the year with most of the generated months (the rollups cover the current and previous one)
PERIOD = str((zone_today(NOW) - timedelta(days=182)).year)

CONTENT = {  # per table, the fields a zone is made of (ids aside: they differ with the slug)
    "branches": "SELECT substr(t.slug, 3), t.name, t.enterprise_name, t.enterprise_type,"
    " t.industry, t.employee_count, t.organization_type FROM tenants t WHERE t.slug LIKE :p",
    "members": "SELECT substr(t.slug, 3), m.name, m.gender, m.birth_date, m.category,"
    " m.party_status, m.joined_party_date, m.position, m.education"
    " FROM members m JOIN tenants t ON t.id = m.tenant_id WHERE t.slug LIKE :p",
    "activities": "SELECT substr(t.slug, 3), a.kind, a.title, a.starts_at, a.ends_at, a.status,"
    " a.study_hours, a.festival, a.training_topic, a.consultation_topic"
    " FROM activities a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug LIKE :p",
    "attendance": "SELECT substr(t.slug, 3), m.name, m.birth_date, a.title, a.starts_at,"
    " x.status, x.reason FROM attendance x"
    " JOIN members m ON m.tenant_id = x.tenant_id AND m.id = x.member_id"
    " JOIN activities a ON a.tenant_id = x.tenant_id AND a.id = x.activity_id"
    " JOIN tenants t ON t.id = x.tenant_id WHERE t.slug LIKE :p",
}

BROKEN_RULES = {  # each counts the rows breaking one rule; all must be 0
    "attendance at an activity not held": "SELECT count(*) FROM attendance x JOIN activities a"
    " ON a.tenant_id = x.tenant_id AND a.id = x.activity_id WHERE a.status <> 'held'",
    "attendance of another branch's member": "SELECT count(*) FROM attendance x"
    " LEFT JOIN members m ON m.tenant_id = x.tenant_id AND m.id = x.member_id"
    " WHERE m.id IS NULL",
    "excused without a reason": "SELECT count(*) FROM attendance"
    " WHERE status = 'excused' AND (reason IS NULL OR reason = '')",
    "a reason without an excuse": "SELECT count(*) FROM attendance"
    " WHERE status <> 'excused' AND reason IS NOT NULL",
    "held in the future": "SELECT count(*) FROM activities WHERE status = 'held'"
    " AND starts_at > :now",
    "ends before it starts": "SELECT count(*) FROM activities WHERE ends_at < starts_at",
    "topic on the wrong kind": "SELECT count(*) FROM activities WHERE"
    " (kind = 'consultation') <> (consultation_topic IS NOT NULL)"
    " OR (kind <> 'cultural-sports' AND festival IS NOT NULL)"
    " OR (kind NOT IN ('training', 'expert-lecture') AND training_topic IS NOT NULL)",
    "party fields on a non-party member": "SELECT count(*) FROM members"
    " WHERE category <> 'party-member' AND (party_status IS NOT NULL"
    " OR joined_party_date IS NOT NULL OR full_membership_date IS NOT NULL)",
    "party member without status": "SELECT count(*) FROM members"
    " WHERE category = 'party-member' AND party_status IS NULL",
    "probationary member with a full-membership date": "SELECT count(*) FROM members"
    " WHERE party_status = 'probationary' AND full_membership_date IS NOT NULL",
    "full membership before joining": "SELECT count(*) FROM members"
    " WHERE full_membership_date < joined_party_date",
    "party group of another branch": "SELECT count(*) FROM members m LEFT JOIN party_groups g"
    " ON g.tenant_id = m.tenant_id AND g.id = m.party_group_id"
    " WHERE m.party_group_id IS NOT NULL AND g.id IS NULL",
}


def _zone_session():
    """A session in the zone context: it reads every branch's rows (row-level security too)."""
    session = db.new_session()
    bind_context(session, Context.zone())
    return session


def _fingerprint(app, prefix: str) -> tuple[dict[str, int], str]:
    """Row counts per table of the zone loaded under `prefix`, and a checksum of its content."""
    digest = hashlib.sha256()
    counts = {}
    with app.app_context():
        session = _zone_session()
        for table, query in CONTENT.items():
            rows = sorted(
                repr(tuple(r))
                for r in session.connection().execute(text(query), {"p": f"{prefix}-%"})
            )
            counts[table] = len(rows)
            digest.update("\n".join(rows).encode())
        session.close()
    return counts, digest.hexdigest()


@pytest.fixture(scope="module")
def zones(app, app_env) -> dict:
    """Three small zones: `a` and `b` from seed 7, `c` from seed 8; then fresh statistics, as
    `pmsc demo --size` leaves them."""
    loads = {}
    with app.app_context():
        for prefix, seed in (("a", 7), ("b", 7), ("c", 8)):
            session = db.new_session()
            bind_context(session, Context.system())
            loads[prefix] = load_zone(session, size=SMALL, seed=seed, now=NOW, slug_prefix=prefix)
            session.commit()
            session.close()
    owner = app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"]
    assert refresh_statistics(owner) == owner.startswith("postgresql")
    return loads


def _scalar(app, query: str, **params):
    statement = text(query)
    if ":now" in query:  # bound as each backend stores timestamps
        statement = statement.bindparams(bindparam("now", type_=UTCDateTime()))
    else:
        params.pop("now", None)
    with app.app_context():
        session = _zone_session()
        try:
            return session.connection().execute(statement, params).scalar()
        finally:
            session.close()


def test_small_loads_the_promised_shape(app, zones):
    load = zones["a"]
    assert (load.size, load.seed, load.branches, load.members) == ("small", 7, 20, 2_000)
    assert 400 <= load.activities <= 1_000
    assert 12_000 <= load.attendance <= 30_000
    counts, _ = _fingerprint(app, "a")
    assert counts == {
        "branches": 20,
        "members": 2_000,
        "activities": load.activities,
        "attendance": load.attendance,
    }
    groups = _scalar(
        app,
        "SELECT count(*) FROM party_groups g JOIN tenants t ON t.id = g.tenant_id"
        " WHERE t.slug LIKE 'a-%'",
    )
    assert groups == load.party_groups > 0


def test_the_same_seed_gives_the_same_zone_and_another_seed_another(app, zones):
    a, b, c = (_fingerprint(app, prefix) for prefix in "abc")
    assert a == b
    assert a[1] != c[1]
    assert a[0] != c[0]  # a different seed does not even give the same counts


def test_every_row_keeps_the_domain_rules(app, zones):
    broken = {rule: _scalar(app, query, now=NOW) for rule, query in BROKEN_RULES.items()}
    assert broken == dict.fromkeys(BROKEN_RULES, 0)


def test_every_kind_and_status_occurs(app, zones):
    def values(query: str) -> set[str]:
        with app.app_context():
            session = _zone_session()
            found = set(session.connection().scalars(text(query)))
            session.close()
        return found

    assert values("SELECT DISTINCT kind FROM activities") == {k.value for k in ActivityKind}
    assert values("SELECT DISTINCT status FROM activities") == {"planned", "held", "cancelled"}
    assert values("SELECT DISTINCT status FROM attendance") == {
        "present",
        "late",
        "excused",
        "absent",
    }
    assert _scalar(app, "SELECT count(*) FROM activities WHERE study_hours > 0") > 0


def test_required_meetings_are_held_by_most_branches_but_not_all(app, zones):
    with app.app_context():
        session = _zone_session()
        held = dict(
            session.connection()
            .execute(
                text(
                    "SELECT t.slug, count(a.id) FROM tenants t LEFT JOIN activities a"
                    " ON a.tenant_id = t.id AND a.kind = 'committee-meeting'"
                    " AND a.status = 'held' WHERE t.slug LIKE 'a-%' GROUP BY t.slug"
                )
            )
            .all()
        )
        session.close()
    assert len(held) == 20
    assert statistics.median(held.values()) >= 8  # of the 11 or 12 months gone by
    assert min(held.values()) < max(held.values())


def test_member_and_activity_fields_pass_the_services_checks(app, zones):
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "a-0001"))
        bind_context(session, Context.tenant(tenant.id))
        members = session.scalars(select(Member)).all()  # decrypts phones and ID cards
        assert members
        for member in members:
            card = parse_id_card(member.id_card_number)
            assert (card.birth_date, card.gender) == (member.birth_date, member.gender.value)
            assert len(member.phone) == 11
        for activity in session.scalars(select(Activity)):
            check_activity(activity, now=NOW)
        session.close()


def test_branch_sizes_are_skewed():
    sizes = branch_sizes(SIZES["large"], DEFAULT_SEED)
    assert (len(sizes), sum(sizes)) == (2_000, 200_000)
    assert sum(20 <= s <= 80 for s in sizes) >= 0.8 * len(sizes)
    assert 5 <= sum(s > 1_000 for s in sizes) <= 50
    assert min(sizes) >= 20
    assert branch_sizes(SIZES["large"], DEFAULT_SEED) == sizes
    assert branch_sizes(SIZES["large"], DEFAULT_SEED + 1) != sizes
    with pytest.raises(ValueError, match="do not fit"):
        branch_sizes(ZoneSize("impossible", 10, 100_000, 0), 1)


def test_a_loaded_zone_is_skewed_too(app, zones):
    with app.app_context():
        session = _zone_session()
        sizes = list(
            session.connection().scalars(
                text(
                    "SELECT count(*) FROM members m JOIN tenants t ON t.id = m.tenant_id"
                    " WHERE t.slug LIKE 'a-%' GROUP BY t.id"
                )
            )
        )
        session.close()
    assert len(sizes) == 20
    assert sum(20 <= s <= 80 for s in sizes) >= 0.75 * len(sizes)
    assert max(sizes) >= 5 * statistics.median(sizes)


def test_loading_twice_under_one_prefix_is_refused(app, zones):
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        with pytest.raises(ValueError, match="'a-0001' is registered"):
            load_zone(session, size=SMALL, seed=1, now=NOW, slug_prefix="a")
        session.rollback()
        session.close()


def test_bulk_inserts_refuse_rows_of_another_branch_or_outside_a_branch(app, zones):
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        one, other = (
            session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            for slug in ("a-0001", "a-0002")
        )
        row = {"tenant_id": other, "id": uuid7(), "name": "越界党小组", "notes": None}
        row |= {"created_at": NOW, "updated_at": NOW, "version": 1}
        with pytest.raises(NoTenantContext):
            bulk_insert(session, PartyGroup, [row])
        session.rollback()
        bind_context(session, Context.tenant(one))
        with pytest.raises(CrossTenantWrite):
            bulk_insert(session, PartyGroup, [{**row, "tenant_id": one, "id": uuid7()}, row])
        session.rollback()
        session.close()


def test_a_generated_branch_admin_lists_only_own_members(app, zones, as_groups):
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "a-0003"))
        bind_context(session, Context.tenant(tenant.id))
        own = {str(i) for i in session.scalars(select(Member.id))}
        session.close()
    admin = as_groups("pmsc:branch:a-0003:admin")
    listed, page = set(), 1
    while True:
        query = {"page": page, "page_size": 100}
        response = admin.get("/api/v1/t/a-0003/members", query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        listed |= {m["id"] for m in response.json}
        if (
            not response.json
            or len(listed) >= json.loads(response.headers["X-Pagination"])["total"]
        ):
            break
        page += 1
    assert listed == own
    assert len(own) >= 20
    assert admin.get("/api/v1/t/a-0004/members").status_code == 404


def _ranking(zone_viewer, slugs: set[str]) -> dict[str, dict]:
    response = zone_viewer.get("/api/v1/zone/rankings", query_string={"period": PERIOD})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["slug"]: row for row in response.json["branches"] if row["slug"] in slugs}


def test_rollups_over_a_generated_zone_rank_it(app, zones, zone_viewer):
    with app.app_context():
        report = recompute_tenants(zones["a"].slugs)
    assert report.failed == {}
    assert report.branches == 20
    rows = _ranking(zone_viewer, set(zones["a"].slugs))
    assert len(rows) == 20
    totals = [row["total"] for row in rows.values()]
    assert all(total and total > 0 for total in totals)
    assert len(set(totals)) >= 15
    for row in rows.values():
        assert row["indicators"]["meetings"]["numerator"] > 0
        assert row["indicators"]["attendance"]["denominator"] > 0


def test_the_demo_zone_ranks_its_branches_on_a_year_of_activities(app, zone_viewer):
    slugs = {branch.slug for branch in DEMO_BRANCHES}
    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.system())
        assert set(seed_demo_zone(session)) == slugs
        session.commit()
        session.close()
        report = recompute_tenants(sorted(slugs))
    assert report.failed == {}
    rows = _ranking(zone_viewer, slugs)
    assert set(rows) == slugs
    totals = [row["total"] for row in rows.values()]
    assert all(total and total > 0 for total in totals)
    assert len(set(totals)) == len(totals)
    broken = {
        rule: _scalar(app, query, now=datetime.now(UTC)) for rule, query in BROKEN_RULES.items()
    }
    assert broken == dict.fromkeys(BROKEN_RULES, 0)


def test_pmsc_demo_size_loads_a_synthetic_zone_and_says_what_it_wrote(tmp_path):
    env = migrated(environment("sqlite", tmp_path)[0])
    runner = CliRunner()  # in-process: test_cli covers the console script's start-up
    # exactly the scratch environment: no PMSC_* setting of the caller's leaks in
    only = {name: None for name in os.environ if name.startswith("PMSC_")} | env

    def pmsc(*args: str):
        return runner.invoke(cli, list(args), env=only)

    done = pmsc("demo", "--size", "small", "--seed", "3")
    assert done.exit_code == 0, done.output
    assert "synthetic zone small (seed 3): 20 branches" in done.output
    assert "2000 members" in done.output
    assert "pmsc rollups recompute" in done.output
    again = pmsc("demo", "--size", "small", "--if-empty")
    assert again.exit_code == 0
    assert "not seeded" in again.output
    lone_seed = pmsc("demo", "--seed", "3")
    assert lone_seed.exit_code == 2
    assert "--seed goes with --size" in lone_seed.output
