"""B6, zone reads: `GET /api/v1/zone/rankings?period=2026` over 2,000 branches, against a bare
SQL read of the same rows. Targets: p50 ≤ 2 × the bare read's, and p95 under 100 ms.

Two service reads are measured: **cold**, the process's ranking cache cleared before each read
(fingerprint, ranking, encoding: what a read costs after any change to the figures), and
**warm**, steady reads while nothing changes (fingerprint, then the cached body). The targets
apply to the warm read: the figures change when rollups are recomputed, not between reads.
A conditional read (`If-None-Match` with the tag of the last answer, 304) is shown beside them.

The zone is built directly (bulk inserts as the database owner): 2,000 active branches, each
with its year row and 12 month rows in `branch_rollups` (26,000 rows), figures drawn from a
seeded generator. The endpoint is called through Flask's in-process test client (routing, JWT
validation, authorization, ranking, serialization and JSON encoding; no HTTP server). The bare
read is what the endpoint cannot do with less: the same rows and columns (the rollup's figures
joined to `tenants` for slug, name, industry and type) fetched into Python with psycopg, as the
app role in the zone scope (row-level security on), on one kept connection.

PostgreSQL only: run with PMSC_TEST_DATABASE_URL set,
`.venv/bin/python -m tests.perf.bench_zone_reads`. Prints the figures and appends them to
tests/perf/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service import create_app, schema_migrations
from service.config import Settings
from service.database import db, make_engine
from service.rollups.models import BranchRollup
from service.rollups.rankings_cache import cache_of
from tenants.orm import uuid7
from tenants.registry import Tenant
from tenants.rls import zone_role
from tests.conftest import APP_ROLE, drop_pg_database, environment
from tests.oidc_issuer import TestIssuer
from tests.perf.results import append_results

BRANCHES = 2_000
PERIOD = "2026"
READS = 100  # of each, interleaved
WARM_UP = 5
SEED = 20261129
RATIO_TARGET = 2.0
P95_TARGET_MS = 100.0

INDUSTRIES = ("制造", "软件", "物流", "化工", "医药", "电子", "金融", "餐饮")
TYPES = ("private", "foreign-funded", "joint-venture", "other")
# the default schedule's kinds: (kind, due in a year)
REQUIRED = (
    ("general-meeting", 4),
    ("committee-meeting", 12),
    ("group-meeting", 12),
    ("party-lecture", 4),
)
KINDS = ("general-meeting", "committee-meeting", "group-meeting", "party-lecture", "theme-day")

BARE_SQL = """
SELECT t.id, t.slug, t.name, t.industry, t.enterprise_type, r.computed_at,
       r.meetings_held, r.meetings_due, r.attendance_present, r.attendance_records,
       r.training_compliant, r.training_with_target, r.activities_held, r.party_members
FROM branch_rollups r JOIN tenants t ON t.id = r.tenant_id
WHERE r.period = %s AND t.status = 'active'
"""


# --- the zone ------------------------------------------------------------------------------------


def _figures(rng: random.Random, months: int) -> dict[str, Any]:
    """One row's figures over `months` months of the year (12 for the year row)."""
    party = rng.randint(3, 40)
    detail = {}
    for kind, per_year in REQUIRED:
        due = max(per_year * months // 12, 1 if months == 12 else 0)
        detail[kind] = {"held": rng.randint(0, due), "due": due}
    by_kind = {k: rng.randint(0, 3 * months) for k in KINDS if rng.random() < 0.8}
    records = 0 if rng.random() < 0.03 else rng.randint(10, 40 * months)  # a few: none recorded
    target = party if months == 12 else 0
    return {
        "members_total": party + rng.randint(0, 200),
        "party_members": party,
        "party_full": party - party // 5,
        "party_probationary": party // 5,
        "league_members": rng.randint(0, 30),
        "workers": rng.randint(0, 150),
        "others": rng.randint(0, 10),
        "activities_held": sum(by_kind.values()),
        "activities_by_kind": by_kind,
        "meetings_due": sum(d["due"] for d in detail.values()),
        "meetings_held": sum(d["held"] for d in detail.values()),
        "meetings_detail": detail,
        "attendance_records": records,
        "attendance_present": rng.randint(0, records),
        "training_with_target": target,
        "training_compliant": rng.randint(0, target),
    }


def populate(owner_url: str) -> None:
    """`BRANCHES` active branches, each with its year row and month rows for `PERIOD`. As the
    owner: the rows are each branch's own, and the app role is bound by row-level security."""
    rng = random.Random(SEED)
    computed = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    tenants, rollups = [], []
    for i in range(BRANCHES):
        tenant_id = uuid7()
        tenants.append(
            {
                "id": tenant_id,
                "slug": f"branch-{i:04d}",
                "name": f"第{i:04d}党支部",
                "enterprise_name": f"企业{i}",
                "enterprise_type": rng.choice(TYPES),
                "industry": rng.choice(INDUSTRIES),
                "employee_count": rng.randint(20, 3000),
                "organization_type": "branch",
                "status": "active",
                "created_at": computed,
                "updated_at": computed,
                "version": 1,
            }
        )
        periods = [(PERIOD, 12)] + [(f"{PERIOD}-{m:02d}", 1) for m in range(1, 13)]
        for period, months in periods:
            rollups.append(
                {
                    "tenant_id": tenant_id,
                    "id": uuid7(),
                    "period": period,
                    "computed_at": computed - timedelta(seconds=rng.randint(0, 3600)),
                    **_figures(rng, months),
                }
            )
    engine = make_engine(owner_url)
    try:
        with engine.begin() as connection:
            connection.execute(Tenant.__table__.insert(), tenants)
            connection.execute(BranchRollup.__table__.insert(), rollups)
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))  # a live database has statistics
            connection.commit()
    finally:
        engine.dispose()


# --- the two reads -------------------------------------------------------------------------------


def service_read(client, headers: dict[str, str]) -> bytes:
    """The endpoint's body, as bytes: parsing it is the client's work, not the service's."""
    response = client.get(f"/api/v1/zone/rankings?period={PERIOD}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def conditional_read(client, headers: dict[str, str]) -> None:
    response = client.get(f"/api/v1/zone/rankings?period={PERIOD}", headers=headers)
    assert response.status_code == 304, response.status_code


def bare_read(connection: psycopg.Connection) -> list[tuple]:
    with connection.transaction(), connection.cursor() as cursor:
        # what the service's zone context does (tenants.isolation)
        cursor.execute(
            "SELECT set_config('pmsc.scope', 'zone', true), set_config('role', %s, true)",
            (zone_role(APP_ROLE),),
        )
        cursor.execute(BARE_SQL, (PERIOD,))
        return cursor.fetchall()


def _psycopg_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


def _timed(call, *args) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds of `call(*args)`."""
    wall, cpu = time.perf_counter(), time.process_time()
    call(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(app: Flask, token: str, app_url: str) -> dict[str, list[tuple[float, float]]]:
    """Interleaved cold, warm and conditional service reads, bare reads and encodings of the
    endpoint's body to JSON alone (after a warm-up of each): the encoding is a floor no change
    to the ranking lowers, and what a cold read cannot avoid."""
    client = app.test_client()
    headers = _bearer(token)
    cache = cache_of(app)
    with psycopg.connect(_psycopg_url(app_url)) as connection:
        cache.clear()
        cold = service_read(client, headers)
        body = json.loads(cold)
        rows = bare_read(connection)
        assert len(body["branches"]) == len(rows) == BRANCHES, (len(body["branches"]), len(rows))
        warm = client.get(f"/api/v1/zone/rankings?period={PERIOD}", headers=headers)
        assert warm.get_data() == cold, "a cached read must give the same bytes"
        tagged = {**headers, "If-None-Match": warm.headers["ETag"]}
        for _ in range(WARM_UP):
            cache.clear()
            service_read(client, headers)
            service_read(client, headers)
            conditional_read(client, tagged)
            bare_read(connection)
        timings: dict[str, list[tuple[float, float]]] = {
            key: [] for key in ("cold", "warm", "conditional", "bare", "encoding")
        }
        hits = cache.hits
        for _ in range(READS):
            cache.clear()
            timings["cold"].append(_timed(service_read, client, headers))
            timings["warm"].append(_timed(service_read, client, headers))
            timings["conditional"].append(_timed(conditional_read, client, tagged))
            timings["bare"].append(_timed(bare_read, connection))
            timings["encoding"].append(_timed(app.json.dumps, body))
        # every warm read was a hit, every cold one a miss (the 304s never ask the cache)
        assert cache.hits - hits == READS, (cache.hits - hits, READS)
    return timings


def build(tmp: Path, issuer: TestIssuer) -> tuple[dict[str, str], str | None]:
    """A migrated database holding the zone; its environment and database name."""
    env, name = environment(
        "postgresql", tmp, PMSC_OIDC_ISSUER=issuer.url, PMSC_OIDC_AUDIENCE=issuer.audience
    )
    try:
        Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
        settings = Settings.from_env(env)
        schema_migrations.upgrade(settings)
        populate(settings.admin_database_url)
    except BaseException:
        if name:
            drop_pg_database(name)
        raise
    return env, name


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ranking_json(app: Flask, token: str) -> str:
    """The endpoint's answer, canonical: to check a change to the ranking keeps it identical."""
    body = json.loads(service_read(app.test_client(), _bearer(token)))
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _ms(timings: list[float], quantile: str) -> float:
    if quantile == "p50":
        return statistics.median(timings) * 1000
    return statistics.quantiles(timings, n=20)[18] * 1000


def main() -> None:
    if not os.environ.get("PMSC_TEST_DATABASE_URL"):
        print("zone reads need PMSC_TEST_DATABASE_URL (PostgreSQL); skipped")
        return
    load_before = os.getloadavg()[0]
    issuer = TestIssuer().start()
    with tempfile.TemporaryDirectory() as tmp:
        env, name = build(Path(tmp), issuer)
        app = None
        try:
            app = create_app(env)
            token = issuer.token(["pmsc:zone:admin"], lifetime=7200)
            size = len(service_read(app.test_client(), _bearer(token)))
            timings = measure(app, token, env["PMSC_DATABASE_URL"])
        finally:
            if app is not None:
                with app.app_context():
                    db.engine.dispose()
            issuer.stop()
            if name:
                drop_pg_database(name)
    figures = {k: [w for w, _ in v] for k, v in timings.items()}
    cpu = {k: statistics.median(c for _, c in v) * 1000 for k, v in timings.items()}
    bare_p50 = statistics.median(figures["bare"])
    ratio = {k: statistics.median(figures[k]) / bare_p50 for k in ("cold", "warm", "conditional")}
    p95 = {k: _ms(figures[k], "p95") for k in ("cold", "warm", "conditional")}

    def verdict(key: str) -> str:
        met = ratio[key] <= RATIO_TARGET and p95[key] < P95_TARGET_MS
        return "met" if met else "MISSED"

    labels = (
        ("rankings endpoint, cold (cache cleared before each read)", "cold"),
        ("rankings endpoint, warm (steady reads, cached body)", "warm"),
        ("rankings endpoint, If-None-Match (304)", "conditional"),
        ("bare SQL (CPU: psycopg's side only)", "bare"),
        (f"encoding the endpoint's body to JSON, alone ({size / 2**20:.1f} MiB)", "encoding"),
    )
    lines = [
        f"Zone reads (B6): `GET /api/v1/zone/rankings?period={PERIOD}` over {BRANCHES:,} active "
        f"branches (26,000 rollup rows, year and months), in-process Flask test client (JWT "
        f"validation, authorization, fingerprint query, ranking, serialization, JSON encoding; no "
        f"HTTP server), against the bare read of the same rows and columns (rollups joined to "
        f"tenants) with psycopg into Python, as the app role in the zone scope (row-level "
        f"security on). Cold: the process's ranking cache cleared before each read; warm: "
        f"steady reads (fingerprint query, cached body). {READS} of each, interleaved, after "
        f"{WARM_UP} warm-up reads; PostgreSQL.",
        "",
        "| read | p50 ms | p95 ms | min ms (least disturbed by other load) "
        "| CPU ms of this process, p50 | p50 / bare p50 |",
        "|---|---|---|---|---|---|",
        *(
            f"| {label} | {_ms(figures[key], 'p50'):.2f} | {_ms(figures[key], 'p95'):.2f} "
            f"| {min(figures[key]) * 1000:.2f} | {cpu[key]:.2f} "
            f"| {f'{ratio[key]:.2f}' if key in ratio else ''} |"
            for label, key in labels
        ),
        "",
        f"Target (warm read): p50 ≤ {RATIO_TARGET:g} × bare and p95 < {P95_TARGET_MS:g} ms. "
        f"Warm: ratio {ratio['warm']:.2f}, p95 {p95['warm']:.1f} ms: {verdict('warm')}. "
        f"Cold (beside it, no target): ratio {ratio['cold']:.2f}, p95 {p95['cold']:.1f} ms "
        f"({'within' if verdict('cold') == 'met' else 'outside'} the warm read's figures). "
        f"Load average (1 min) before and after: {load_before:.1f}, {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores.",
    ]
    print("\n".join(lines))
    append_results("zone reads (B6)", lines)


if __name__ == "__main__":
    main()
