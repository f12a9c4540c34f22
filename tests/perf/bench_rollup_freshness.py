"""Freshness: from an attendance write to its effect in `/api/v1/zone/rankings`, with one
`pmsc worker` (relay + rq worker) against Redis and PostgreSQL. Issue 4's "Must show": p95 over
100 writes within 2 s.

Run: `PMSC_TEST_DATABASE_URL=... PMSC_TEST_REDIS_URL=... .venv/bin/python -m
tests.perf.bench_rollup_freshness` (make bench runs it when both are set). Prints the figures and
appends them to tests/perf/RESULTS.md.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from service import create_app, schema_migrations
from service.config import Settings
from tests.conftest import VALID_MEMBER, drop_pg_database, environment
from tests.oidc_issuer import TestIssuer
from tests.perf.results import append_results

WRITES = 100
TIMEOUT = 10.0  # seconds to wait for one write's effect before counting it as missed
BRANCHES = 5


def _worker(env: dict[str, str]) -> subprocess.Popen:
    pmsc = Path(sys.executable).with_name("pmsc")
    return subprocess.Popen(
        [str(pmsc), "worker"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    pg, redis_url = os.environ.get("PMSC_TEST_DATABASE_URL"), os.environ.get("PMSC_TEST_REDIS_URL")
    if not pg or not redis_url:
        print("freshness needs PMSC_TEST_DATABASE_URL and PMSC_TEST_REDIS_URL; skipped")
        return
    redis.Redis.from_url(redis_url).flushdb()
    issuer = TestIssuer().start()
    with tempfile.TemporaryDirectory() as tmp:
        env, name = environment(
            "postgresql",
            Path(tmp),
            PMSC_OIDC_ISSUER=issuer.url,
            PMSC_OIDC_AUDIENCE=issuer.audience,
            PMSC_REDIS_URL=redis_url,
        )
        Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
        schema_migrations.upgrade(Settings.from_env(env))
        app = create_app(env)
        client = app.test_client()
        zone = {"Authorization": f"Bearer {issuer.token(['pmsc:zone:admin'], lifetime=7200)}"}
        period = str(datetime.now(UTC).year)
        # a few branches, each with a member and a held activity
        targets = []
        for i in range(BRANCHES):
            slug = f"fresh-{i}-{os.getpid()}"
            client.post(
                "/api/v1/zone/tenants",
                headers=zone,
                json={
                    "slug": slug,
                    "name": f"支部{i}",
                    "enterprise_name": f"企业{i}",
                    "enterprise_type": "private",
                    "industry": "制造",
                    "employee_count": 50,
                    "organization_type": "branch",
                },
            )
            admin = {
                "Authorization": "Bearer "
                + issuer.token([f"pmsc:branch:{slug}:admin"], lifetime=7200)
            }
            member = client.post(
                f"/api/v1/t/{slug}/members", headers=admin, json=VALID_MEMBER
            ).json["id"]
            start = datetime.now(UTC) - timedelta(days=1)
            activity = client.post(
                f"/api/v1/t/{slug}/activities",
                headers=admin,
                json={
                    "kind": "committee-meeting",
                    "title": "支委会",
                    "status": "held",
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=1)).isoformat(),
                    "study_hours": "1.5",
                },
            ).json["id"]
            targets.append((slug, admin, member, activity))
        worker = _worker(env)
        try:
            latencies, missed = [], 0
            for n in range(WRITES):
                slug, admin, member, activity = targets[n % BRANCHES]
                status = "present" if n % 2 else "absent"
                written = datetime.now(UTC)
                started = time.perf_counter()
                response = client.put(
                    f"/api/v1/t/{slug}/activities/{activity}/attendance/{member}",
                    headers=admin,
                    json={"status": status},
                )
                assert response.status_code in (200, 201), response.get_data(as_text=True)
                while True:
                    rows = client.get(f"/api/v1/zone/rankings?period={period}", headers=zone).json
                    row = next((r for r in rows["branches"] if r["slug"] == slug), None)
                    # the write's own effect: this branch's one attendance record, present or not
                    attendance = row and row["indicators"]["attendance"]
                    if (
                        attendance
                        and attendance["numerator"] == (1 if status == "present" else 0)
                        and datetime.fromisoformat(row["computed_at"]) >= written
                    ):
                        latencies.append(time.perf_counter() - started)
                        break
                    if time.perf_counter() - started > TIMEOUT:
                        missed += 1
                        break
                    time.sleep(0.02)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
            from service.database import db

            with app.app_context():
                db.engine.dispose()
            drop_pg_database(name)
    issuer.stop()
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18]
    lines = [
        f"Freshness: attendance write → its branch's row in /api/v1/zone/rankings, one "
        f"`pmsc worker` (relay + rq), PostgreSQL + Redis, {WRITES} writes over {BRANCHES} "
        "branches:",
        "",
        "| p50 s | p95 s | max s | missed (> 10 s) | target |",
        "|---|---|---|---|---|",
        f"| {p50:.3f} | {p95:.3f} | {max(latencies):.3f} | {missed} | p95 ≤ 2 s |",
    ]
    print("\n".join(lines))
    append_results("rollup freshness (issue 4)", lines)


if __name__ == "__main__":
    main()
