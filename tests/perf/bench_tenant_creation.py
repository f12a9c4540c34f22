"""Tenant creation time at 10, 1,000 and 10,000 existing tenants (issue 2's figure; B5's first
half). Creating a tenant is one registry row, so the ratio 10,000 : 10 should stay near 1.

Run: `.venv/bin/python -m tests.perf.bench_tenant_creation` (SQLite; add PostgreSQL with
PMSC_TEST_DATABASE_URL). Prints the figures and appends them to tests/perf/RESULTS.md.
`make bench` runs `bench_tenant_scale` instead, which reuses this creation loop and adds the
roster read and `pmsc db upgrade` at each scale (B5).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert

from service import create_app, schema_migrations
from service.config import Settings
from service.database import db
from tenants.orm import utcnow, uuid7
from tenants.registry import Tenant
from tests.conftest import drop_pg_database, environment
from tests.oidc_issuer import TestIssuer
from tests.perf.results import append_results

SIZES = (10, 1_000, 10_000)
CREATIONS = 100


def _bulk_tenants(app, count: int) -> None:
    rows = [
        {
            "id": uuid7(),
            "slug": f"bulk-{i:06d}",
            "name": f"支部{i}",
            "enterprise_name": f"企业{i}",
            "enterprise_type": "private",
            "industry": "制造",
            "employee_count": 100,
            "organization_type": "branch",
            "status": "active",
            "created_at": utcnow(),
            "updated_at": utcnow(),
            "version": 1,
        }
        for i in range(count)
    ]
    with app.app_context():
        session = db.new_session()
        session.execute(insert(Tenant), rows)
        session.commit()
        session.close()


def _time_creations(app, token: str, count: int) -> list[float]:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    for _ in range(count):
        body = {
            "slug": f"new-{uuid.uuid4().hex[:12]}",
            "name": "新支部",
            "enterprise_name": "新企业",
            "enterprise_type": "private",
            "industry": "软件",
            "employee_count": 30,
            "organization_type": "branch",
        }
        start = time.perf_counter()
        response = client.post("/api/v1/zone/tenants", json=body, headers=headers)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 201, response.json
    return timings


def measure(backend: str, issuer: TestIssuer) -> dict[int, list[float]]:
    results = {}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            env, name = environment(
                backend, Path(tmp), PMSC_OIDC_ISSUER=issuer.url, PMSC_OIDC_AUDIENCE=issuer.audience
            )
            Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
            schema_migrations.upgrade(Settings.from_env(env))
            app = create_app(env)
            _bulk_tenants(app, size)
            token = issuer.token(["pmsc:zone:admin"], lifetime=3600)
            _time_creations(app, token, 3)  # warm up the JWKS cache and the connection pool
            results[size] = _time_creations(app, token, CREATIONS)
            with app.app_context():
                db.engine.dispose()
            if name:
                drop_pg_database(name)
    return results


def main() -> None:
    issuer = TestIssuer().start()
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("PMSC_TEST_DATABASE_URL") else [])
    lines = [
        f"Tenant creation through `POST /api/v1/zone/tenants` ({CREATIONS} creations "
        "after 3 warm-up ones, in-process client, JWT validation and audit included):",
        "",
        "| database | existing tenants | p50 ms | p95 ms | p50 ratio vs 10 |",
        "|---|---|---|---|---|",
    ]
    for backend in backends:
        results = measure(backend, issuer)
        base = statistics.median(results[SIZES[0]])
        for size, timings in results.items():
            p50 = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[18]
            lines.append(
                f"| {backend} | {size:,} | {p50 * 1000:.2f} | {p95 * 1000:.2f} | {p50 / base:.2f} |"
            )
    issuer.stop()
    print("\n".join(lines))
    append_results("tenant creation (issue 2)", lines)


if __name__ == "__main__":
    main()
