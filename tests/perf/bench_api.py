"""API overhead (B3), the cost of row-level security (B4) and a web worker's memory (B7), over
HTTP against the service under gunicorn, with `wrk` on loopback. Issue 5.

* **B3**: `GET /api/v1/t/<slug>/members?page_size=50` and `GET .../activities?page_size=50`,
  16 connections, against `tests/perf/bare_app.py`: bare Flask endpoints that run the same SQL
  with psycopg under the same gunicorn settings (`deploy/gunicorn.conf.py`: 2 workers, gthread,
  4 threads each). Targets: throughput ≥ 0.5× bare, p99 ≤ 3× bare.
* **B4**: the same lists with row-level security on (the service's own role, `NOBYPASSRLS`) and
  off (the same service connecting as a scratch role with `BYPASSRLS` and the same grants; a
  benchmark-only switch: `pmsc serve` only warns about such a role outside production, and the
  service has no code for it). Target: ≥ 0.9× throughput with RLS on.
* **B7**: one gunicorn worker (same threads), 20,000 mixed requests (lists with pages and filters,
  single members and activities, attendance, party groups, standing, zone rankings, `/me`;
  several branches, JWTs and an API token; writes when Redis is configured); the worker's RSS
  after every 2,500. Target: ≤ 200 MB at 20,000, no growth over the last 10,000. The
  training-hours summary is left out: at about 130 ms of CPU a call (ten times any other
  read, measured) one call in 55 would be a fifth of B7's time.

Auth: bearer JWTs from `tests/oidc_issuer.TestIssuer` (a real JWKS issuer on loopback, the way
a person's client calls the API): every request pays signature validation, as in production.
The B7 mix adds a branch API token (`pmsct_...`). Data: `service.zone_generator` `medium` zone
(200 branches, 20,000 members); the measured branch is the one with the most activities among
those of 200 to 700 members.

Every server runs from the start to the end of B3/B4, and each round runs each server in a
rotated order, so the machine's drift (it is shared, 2 cores) falls on all of them alike.
A ratio is the median of the rounds' own ratios (the two servers ran seconds apart). Each run
also reads the workers' CPU time per request from /proc: the server's own cost, which the
other work on the machine disturbs far less than throughput. gunicorn's worker recycling
(`max_requests`) is off: the benchmark measures the steady state, and B7 must see one worker
live through 20,000 requests.

Run: `PMSC_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m
tests.perf.bench_api` (add `PMSC_TEST_REDIS_URL` for B7's writes; `make bench` runs it).
Takes 8 to 15 minutes (most of it B7: 20,000 requests through one worker). Prints the figures
beside their targets and appends them to tests/perf/RESULTS.md.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from service import create_app, schema_migrations
from service import zone_generator as zg
from service.config import Settings
from service.database import db
from tenants.database_roles import ensure_app_role
from tenants.rls import zone_role
from tests.conftest import VALID_MEMBER, drop_pg_database, environment, pg_url
from tests.oidc_issuer import TestIssuer
from tests.perf import bare_app
from tests.perf.results import append_results
from tests.perf.server import (
    Server,
    WrkResult,
    bare_server,
    ensure_wrk,
    fixed_script,
    mixed_script,
    rss_mib,
    run_wrk,
    service_server,
)

ZONE_SIZE = "medium"
SEED = 1921
PAGE_SIZE = 50
CONNECTIONS = 16
WRK_THREADS = 2
ROUNDS = 4
RUN_SECONDS = 8
WARMUP_SECONDS = 3
B7_REQUESTS = 20_000
B7_CHUNK = 2_500
RSS_LIMIT_MB = 200
# RSS moves by a few hundred KiB as malloc arenas and caches settle; more than this between
# 10,000 and 20,000 requests counts as growth
RSS_GROWTH_TOLERANCE_MIB = 2.0
ENDPOINTS = ("members", "activities")


@dataclass
class Branch:
    """The measured branch and what the B7 mix reads from it."""

    slug: str
    tenant_id: str
    members: int
    activities: int
    member_ids: list[str] = field(default_factory=list)
    activity_ids: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # slugs of other branches


# --- set-up -----------------------------------------------------------------------------------


def load_zone(env: dict[str, str]) -> tuple[float, list[str]]:
    """Load the synthetic zone and recompute its rollups; the seconds it took, and notes."""
    app = create_app(env)
    with app.app_context():
        session = db.new_session()
        load = zg.load_zone(session, size=zg.SIZES[ZONE_SIZE], seed=SEED, slug_prefix="syn")
        session.commit()
        session.close()
        seconds = load.seconds
        notes = []
        # standing and rankings read the stored rollups: without them B7 reads empty ones
        try:
            from service.rollups.jobs import recompute_tenants

            seconds += recompute_tenants(None).seconds
        except Exception as error:  # B3 and B4 need no rollups: go on, and say so
            notes.append(f"Note: rollups not computed ({error!r}): B7's standing and rankings")
            notes[-1] += " read empty rollups."
            print(notes[-1], flush=True)
        db.engine.dispose()
    # planner statistics, as autovacuum would have them on a live database after a bulk load
    engine = create_engine(env["PMSC_ADMIN_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return seconds, notes


def pick_branch(admin_url: str) -> Branch:
    """The branch with the most activities among those of 200 to 700 members."""
    engine = create_engine(admin_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT t.slug, t.id, "
                "(SELECT count(*) FROM members m WHERE m.tenant_id = t.id) AS members, "
                "(SELECT count(*) FROM activities a WHERE a.tenant_id = t.id) AS activities "
                "FROM tenants t ORDER BY t.slug"
            )
        ).all()
        fit = [r for r in rows if 200 <= r.members <= 700] or rows
        best = max(fit, key=lambda r: (r.activities, r.members))
        branch = Branch(best.slug, str(best.id), best.members, best.activities)
        branch.member_ids = [
            str(i)
            for i in connection.execute(
                text("SELECT id FROM members WHERE tenant_id = :t ORDER BY id LIMIT 20"),
                {"t": best.id},
            ).scalars()
        ]
        branch.activity_ids = [
            str(i)
            for i in connection.execute(
                text("SELECT id FROM activities WHERE tenant_id = :t ORDER BY id LIMIT 20"),
                {"t": best.id},
            ).scalars()
        ]
        branch.others = [r.slug for r in rows if r.slug != best.slug][::37][:5]
    engine.dispose()
    return branch


def create_bypass_role(admin_url: str, database: str) -> str:
    """A login role with the app role's grants plus BYPASSRLS: the "RLS off" switch of B4."""
    role = f"pmsc_bench_bypass_{database[-10:]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        ensure_app_role(connection, role)  # the same grants as the service's role
        connection.exec_driver_sql(f'ALTER ROLE "{role}" BYPASSRLS')
    engine.dispose()
    return role


def drop_role(admin_url: str, role: str) -> None:
    """Drop the scratch role, after taking back its grants in the scratch database."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        # own nothing there; this revokes their privileges, the database's own included
        for name in (role, zone_role(role)):
            connection.exec_driver_sql(f'DROP OWNED BY "{name}"')
            connection.exec_driver_sql(f'DROP ROLE "{name}"')
    engine.dispose()


EXPLAINS = 40  # executions of each list statement per role for B4's database-side figure


def database_ms(url: str, branch: Branch) -> dict[str, float]:
    """Per list: PostgreSQL's own execution time (ms) of the statements one request runs (the
    count and the page), the median of EXPLAINS runs each, in the branch's context. Read from
    `EXPLAIN (ANALYZE)`, inside the server: the machine's other load moves it little."""
    conninfo = bare_app.conninfo(url)
    ids, page = bare_app.list_parameters(branch.tenant_id, PAGE_SIZE, 0)
    found = {}
    with psycopg.connect(conninfo) as connection:
        connection.execute(bare_app.SET_CONTEXT, (branch.tenant_id, "tenant", "none"))
        for endpoint in ENDPOINTS:
            total = 0.0
            for name, params in ((f"{endpoint}_count", ids), (f"{endpoint}_page", page)):
                explain = "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + bare_app.STATEMENTS[name]
                times = [
                    connection.execute(explain, params).fetchone()[0][0]["Execution Time"]
                    for _ in range(EXPLAINS)
                ]
                total += statistics.median(times)
            found[endpoint] = total
        connection.rollback()
    return found


# --- checks of the baseline -------------------------------------------------------------------


def _normalized(statement: str) -> str:
    return " ".join(statement.split())


def check_sql(env: dict[str, str], branch: Branch, token: str) -> list[str]:
    """Problems with the baseline: every statement the service sends psycopg for one list
    request, captured in-process in order, against the ones `bare_app` runs. Empty when they
    are the same."""
    app = create_app(env)
    problems = []
    s = bare_app.STATEMENTS
    captured: list[str] = []
    execute = psycopg.Cursor.execute

    def capture(cursor, query, *args, **kwargs):
        captured.append(_normalized(str(query)))
        return execute(cursor, query, *args, **kwargs)

    client = app.test_client()
    psycopg.Cursor.execute = capture  # the bench's own process, for two requests: not a test
    try:
        for endpoint in ENDPOINTS:
            names = ["ping", "set_context", "user", "tenant", "set_context"]
            expected = [_normalized(s[name]) for name in names]
            expected += [_normalized(s[f"{endpoint}_{step}"]) for step in ("count", "page")]
            for _ in range(2):  # the second request: caches warm, the steady state
                captured.clear()
                response = client.get(
                    f"/api/v1/t/{branch.slug}/{endpoint}?page_size={PAGE_SIZE}",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.json
            if captured != expected:
                problems.append(
                    f"{endpoint}: the service now runs other SQL than bare_app.py "
                    f"({len(captured)} statements: {captured})"
                )
    finally:
        psycopg.Cursor.execute = execute
    with app.app_context():
        db.engine.dispose()
    return problems


def _http(
    method: str, url: str, authorization: str, body: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """One request to a server of ours (always http on loopback): body and headers."""
    request = urllib.request.Request(  # noqa: S310 - our own URL
        url,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.read(), dict(response.headers)


def _get(url: str, token: str) -> tuple[object, str | None]:
    body, headers = _http("GET", url, f"Bearer {token}")
    return json.loads(body), headers.get("X-Pagination")


def check_same_answers(service: Server, bare: Server, branch: Branch, token: str) -> list[str]:
    """Problems with the baseline: bodies or pagination headers that differ from the service's."""
    problems = []
    for endpoint in ENDPOINTS:
        path = f"/api/v1/t/{branch.slug}/{endpoint}?page_size={PAGE_SIZE}"
        body, pages = _get(service.url + path, token)
        bare_body, bare_pages = _get(bare.url + path, token)
        if body != bare_body or json.loads(pages or "{}") != json.loads(bare_pages or "{}"):
            problems.append(f"{endpoint}: bare_app answers differently from the service")
        if not isinstance(body, list) or len(body) != min(PAGE_SIZE, getattr(branch, endpoint)):
            problems.append(f"{endpoint}: expected a full page, got {len(body)} items")
    return problems


# --- B3 and B4 --------------------------------------------------------------------------------


def measure_lists(wrk: str, servers: dict[str, Server], branch: Branch, token: str, tmp: Path):
    """Rounds of wrk runs over every endpoint and server, in rotated order; the results by
    (endpoint, server name)."""
    script = fixed_script(f"Bearer {token}")
    names = list(servers)
    for endpoint in ENDPOINTS:  # warm-up: connections, prepared statements, JWKS, caches
        for name in names:
            url = f"{servers[name].url}/api/v1/t/{branch.slug}/{endpoint}?page_size={PAGE_SIZE}"
            run_wrk(wrk, url, script, seconds=WARMUP_SECONDS, workdir=tmp)
    results: dict[tuple[str, str], list[WrkResult]] = {}
    for round_ in range(ROUNDS):
        for endpoint in ENDPOINTS:
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                url = f"{servers[name].url}/api/v1/t/{branch.slug}/{endpoint}?page_size={PAGE_SIZE}"
                cpu_before = servers[name].cpu_seconds()
                result = run_wrk(
                    wrk,
                    url,
                    script,
                    seconds=RUN_SECONDS,
                    connections=CONNECTIONS,
                    threads=WRK_THREADS,
                    workdir=tmp,
                )
                # the workers' own CPU per request: what the server's code costs, whatever
                # else the shared machine is doing
                result.cpu_ms = (servers[name].cpu_seconds() - cpu_before) / result.requests * 1e3
                if result.errors:
                    raise RuntimeError(f"{name} {endpoint}: {result.errors} errors under load")
                results.setdefault((endpoint, name), []).append(result)
                print(
                    f"  round {round_ + 1} {endpoint:10} {name:8} {result.rps:7.1f} req/s  "
                    f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                    f"worker CPU {result.cpu_ms:5.2f} ms/request",
                    flush=True,
                )
    return results


def _median(results: list[WrkResult], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in results)


def _paired(results, endpoint: str, a: str, b: str, attribute: str) -> float:
    """The median over rounds of server `a`'s figure over server `b`'s in the same round: the
    two ran seconds apart, so the machine's drift between rounds cancels."""
    return statistics.median(
        getattr(x, attribute) / getattr(y, attribute)
        for x, y in zip(results[(endpoint, a)], results[(endpoint, b)], strict=True)
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report_b3_b4(results, branch: Branch, db_times: dict[str, dict[str, float]]) -> list[str]:
    """The B3 and B4 tables."""
    lines = [
        f"B3 API overhead: `GET /api/v1/t/<slug>/<list>?page_size={PAGE_SIZE}` on branch "
        f"{branch.slug} ({branch.members} members, {branch.activities} activities) of a "
        f"`{ZONE_SIZE}` zone; wrk {CONNECTIONS} connections, {WRK_THREADS} threads; "
        f"{ROUNDS} rounds × {RUN_SECONDS} s per server and endpoint, interleaved; figures are "
        "medians of rounds, ratios medians of the rounds' own ratios. gunicorn 2 workers × 4 "
        "threads (gthread) for service and bare; JWT auth. Worker CPU: the gunicorn workers' "
        "user + system time per request (/proc), the server's own cost whatever else runs.",
        "",
        "| list | service req/s | bare req/s | ratio (≥ 0.5) | service p50 ms | bare p50 ms "
        "| service p99 ms | bare p99 ms | p99 ratio (≤ 3) | worker CPU ms/req service : bare |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for endpoint in ENDPOINTS:
        svc, bare = results[(endpoint, "service")], results[(endpoint, "bare")]
        ratio = _paired(results, endpoint, "service", "bare", "rps")
        p99_ratio = _paired(results, endpoint, "service", "bare", "p99_ms")
        lines.append(
            f"| {endpoint} | {_median(svc, 'rps'):.0f} | {_median(bare, 'rps'):.0f} "
            f"| {ratio:.2f} {_verdict(ratio >= 0.5)} | {_median(svc, 'p50_ms'):.1f} "
            f"| {_median(bare, 'p50_ms'):.1f} | {_median(svc, 'p99_ms'):.1f} "
            f"| {_median(bare, 'p99_ms'):.1f} | {p99_ratio:.2f} {_verdict(p99_ratio <= 3)} "
            f"| {_median(svc, 'cpu_ms'):.2f} : {_median(bare, 'cpu_ms'):.2f} |"
        )
    lines += [
        "",
        "B4 isolation cost: the same lists with row-level security on (the service's "
        "`NOBYPASSRLS` role) and off (the same service as a `BYPASSRLS` role with the same "
        "grants), same rounds:",
        "",
        "| list | RLS on req/s | RLS off req/s | ratio (≥ 0.9) | RLS on p99 ms | RLS off p99 ms "
        "| worker CPU ms/req on : off |",
        "|---|---|---|---|---|---|---|",
    ]
    for endpoint in ENDPOINTS:
        on, off = results[(endpoint, "service")], results[(endpoint, "no-rls")]
        ratio = _paired(results, endpoint, "service", "no-rls", "rps")
        lines.append(
            f"| {endpoint} | {_median(on, 'rps'):.0f} | {_median(off, 'rps'):.0f} "
            f"| {ratio:.2f} {_verdict(ratio >= 0.9)} | {_median(on, 'p99_ms'):.1f} "
            f"| {_median(off, 'p99_ms'):.1f} "
            f"| {_median(on, 'cpu_ms'):.2f} : {_median(off, 'cpu_ms'):.2f} |"
        )
    lines += [
        "",
        f"B4 at the database: PostgreSQL's execution time of one request's list statements "
        f"(count + page; `EXPLAIN ANALYZE`, median of {EXPLAINS}) as each role:",
        "",
        "| list | RLS on ms | RLS off ms | on : off |",
        "|---|---|---|---|",
    ]
    for endpoint in ENDPOINTS:
        on_ms, off_ms = db_times["on"][endpoint], db_times["off"][endpoint]
        lines.append(f"| {endpoint} | {on_ms:.3f} | {off_ms:.3f} | {on_ms / off_ms:.2f} |")
    return lines


# --- B7 ---------------------------------------------------------------------------------------


def b7_requests(branch: Branch, tokens: dict[str, str], writes: bool):
    """The mixed requests of B7: `(method, path, authorization, json_body)`."""
    base = f"/api/v1/t/{branch.slug}"
    year = datetime.now(UTC).astimezone(zg.ZONE_TIME).year
    admin, member = f"Bearer {tokens['admin']}", f"Bearer {tokens['member']}"
    api_token, zone = f"Bearer {tokens['api']}", f"Bearer {tokens['zone']}"
    name = urllib.parse.quote("王")
    mix = [
        ("GET", f"{base}/members?page_size=50", admin, None),
        ("GET", f"{base}/members?page_size=50", member, None),
        ("GET", f"{base}/members?page=3&page_size=20", admin, None),
        ("GET", f"{base}/members?category=party-member&page_size=50", member, None),
        ("GET", f"{base}/members?name={name}", api_token, None),
        ("GET", f"{base}/activities?page_size=50", admin, None),
        ("GET", f"{base}/activities?status=held&page_size=20", api_token, None),
        ("GET", f"{base}/party-groups", admin, None),
        ("GET", f"{base}/standing?period={year}", admin, None),
        ("GET", "/api/v1/me", admin, None),
        ("GET", f"/api/v1/zone/rankings?period={year}", zone, None),
    ]
    for index, member_id in enumerate(branch.member_ids):
        mix.append(("GET", f"{base}/members/{member_id}", admin if index % 2 else member, None))
    for activity_id in branch.activity_ids[:12]:
        mix.append(("GET", f"{base}/activities/{activity_id}", admin, None))
    for activity_id in branch.activity_ids[:4]:
        mix.append(("GET", f"{base}/activities/{activity_id}/attendance", admin, None))
    for slug in branch.others:
        other = f"Bearer {tokens[slug]}"
        mix.append(("GET", f"/api/v1/t/{slug}/members?page_size=50", other, None))
    if writes:
        starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        activity = {
            "kind": "theme-day",
            "title": "基准测试主题党日",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "place": "党群服务中心",
        }
        member_body = {**VALID_MEMBER, "name": "基准测试"}
        # ASCII bodies: the Lua script carries them as JSON string literals
        mix.append(("POST", f"{base}/activities", admin, json.dumps(activity)))
        mix.append(("POST", f"{base}/members", api_token, json.dumps(member_body)))
    return mix


def check_mix(server: Server, mix) -> None:
    """Every request of the mix answers 2xx (wrk only counts failures)."""
    for method, path, authorization, body in mix:
        try:
            _http(method, server.url + path, authorization, body)
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"B7 mix: {method} {path} answered {error.code}: {error.read()!r}"
            ) from None


def measure_memory(wrk: str, server: Server, mix, tmp: Path) -> list[tuple[int, float]]:
    """(requests so far, worker RSS MiB) after a warm-up and after every chunk of the mix."""
    (worker,) = server.worker_pids()
    # warm-up, not counted: it also tells the rate, to size each chunk's wrk duration
    warm = run_wrk(wrk, server.url, mixed_script(mix, 10**9), seconds=5, workdir=tmp)
    rate = CONNECTIONS / (warm.mean_ms / 1000)
    samples = [(0, rss_mib(worker))]
    done = 0
    while done < B7_REQUESTS:
        # to the next multiple of B7_CHUNK: a run cut short by its duration is made up next
        chunk = min(B7_CHUNK - done % B7_CHUNK, B7_REQUESTS - done)
        per_thread = math.ceil(chunk / WRK_THREADS)
        # wrk runs for its whole duration even once the threads have stopped: a margin, not more
        seconds = math.ceil(chunk / rate * 1.6) + 2
        result = run_wrk(
            wrk,
            server.url,
            mixed_script(mix, per_thread),
            seconds=seconds,
            connections=CONNECTIONS,
            threads=WRK_THREADS,
            workdir=tmp,
        )
        if result.errors:
            raise RuntimeError(f"B7: {result.errors} errors under load")
        done += result.requests
        rate = CONNECTIONS / (result.mean_ms / 1000)
        if server.worker_pids() != [worker]:
            raise RuntimeError("B7: the worker was replaced during the run")
        samples.append((done, rss_mib(worker)))
        print(f"  B7 {done:6,} requests  worker RSS {samples[-1][1]:.1f} MiB", flush=True)
    return samples


def report_b7(samples: list[tuple[int, float]], mix_size: int, writes: bool) -> list[str]:
    """The B7 table."""
    at_half = next(s for s in samples if s[0] >= B7_REQUESTS // 2)
    end = samples[-1]
    growth = end[1] - at_half[1]
    lines = [
        "",
        f"B7 memory: one gunicorn worker (gthread, 4 threads, recycling off), wrk "
        f"{CONNECTIONS} connections cycling through {mix_size} requests (lists, pages, filters, "
        "single members and activities, attendance, party groups, standing, "
        "zone rankings, /me, 5 other branches; JWTs of 8 callers and an API token"
        + ("; 2 writes: an activity and a member" if writes else "; no writes: no Redis")
        + f"); RSS after a 5 s warm-up, then every {B7_CHUNK:,}:",
        "",
        "| requests | " + " | ".join(f"{n:,}" for n, _ in samples) + " |",
        "|---|" + "---|" * len(samples),
        "| RSS MiB | " + " | ".join(f"{rss:.1f}" for _, rss in samples) + " |",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| RSS at {at_half[0]:,} requests | {at_half[1]:.1f} MiB | |",
        f"| RSS at {end[0]:,} requests | {end[1]:.1f} MiB ({end[1] * 1.048576:.1f} MB) "
        f"| ≤ {RSS_LIMIT_MB} MB: {_verdict(end[1] * 1.048576 <= RSS_LIMIT_MB)} |",
        f"| growth over the last {end[0] - at_half[0]:,} | {growth:+.1f} MiB "
        f"| none (≤ {RSS_GROWTH_TOLERANCE_MIB} MiB): "
        f"{_verdict(growth <= RSS_GROWTH_TOLERANCE_MIB)} |",
    ]
    return lines


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    if not os.environ.get("PMSC_TEST_DATABASE_URL"):
        print("bench_api needs PostgreSQL (PMSC_TEST_DATABASE_URL); skipped")
        return
    wrk = ensure_wrk()
    issuer = TestIssuer().start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env, name = environment("postgresql", tmp, **_issuer_env(issuer))
        try:
            Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
            schema_migrations.upgrade(Settings.from_env(env))
            print(f"loading a {ZONE_SIZE} zone …", flush=True)
            seconds, notes = load_zone(env)
            print(f"  loaded and rolled up in {seconds:.0f} s", flush=True)
            lines = measure(wrk, issuer, env, name, tmp)
        finally:
            drop_pg_database(name)
            issuer.stop()
    lines += notes
    print("\n".join(lines))
    append_results("API overhead, isolation cost, worker memory (issue 5: B3, B4, B7)", lines)


def _issuer_env(issuer: TestIssuer) -> dict[str, str]:
    extra = {"PMSC_OIDC_ISSUER": issuer.url, "PMSC_OIDC_AUDIENCE": issuer.audience}
    redis_url = os.environ.get("PMSC_TEST_REDIS_URL")
    if redis_url:  # writes leave their jobs to a worker, as in production
        extra["PMSC_REDIS_URL"] = redis_url
    return extra


def measure(wrk: str, issuer: TestIssuer, env: dict[str, str], name: str, tmp: Path) -> list[str]:
    """B3, B4 and B7 on the loaded database `name`; the report's lines."""
    writes = bool(env.get("PMSC_REDIS_URL"))
    branch = pick_branch(env["PMSC_ADMIN_DATABASE_URL"])
    role = create_bypass_role(env["PMSC_ADMIN_DATABASE_URL"], name)
    servers: dict[str, Server] = {}
    try:
        token = issuer.token([f"pmsc:branch:{branch.slug}:admin"], lifetime=4 * 3600)
        problems = check_sql(env, branch, token)
        server_env = {**os.environ, **env, "GUNICORN_MAX_REQUESTS": "0"}
        servers["service"] = service_server(
            server_env, workers=2, log=tmp / "service.log", name="service"
        )
        servers["no-rls"] = service_server(
            {**server_env, "PMSC_DATABASE_URL": pg_url(name, role), "PMSC_DB_APP_ROLE": role},
            workers=2,
            log=tmp / "no-rls.log",
            name="no-rls",
        )
        servers["bare"] = bare_server(server_env, workers=2, log=tmp / "bare.log")
        for server in servers.values():
            server.wait_ready()
        problems += check_same_answers(servers["service"], servers["bare"], branch, token)
        for problem in problems:
            print(f"WARNING: {problem}", flush=True)
        print("B3/B4 …", flush=True)
        results = measure_lists(wrk, servers, branch, token, tmp)
        db_times = {
            "on": database_ms(env["PMSC_DATABASE_URL"], branch),
            "off": database_ms(pg_url(name, role), branch),
        }
        for server in servers.values():
            server.stop()
        servers.clear()

        print("B7 …", flush=True)
        tokens = {
            "admin": issuer.token([f"pmsc:branch:{branch.slug}:admin"], lifetime=4 * 3600),
            "member": issuer.token([f"pmsc:branch:{branch.slug}:member"], lifetime=4 * 3600),
            "zone": issuer.token(["pmsc:zone:viewer"], lifetime=4 * 3600),
        }
        for slug in branch.others:
            tokens[slug] = issuer.token([f"pmsc:branch:{slug}:admin"], lifetime=4 * 3600)
        servers["b7"] = service_server(server_env, workers=1, log=tmp / "b7.log", name="b7")
        servers["b7"].wait_ready()
        tokens["api"] = _api_token(servers["b7"], branch, tokens["admin"])
        mix = b7_requests(branch, tokens, writes=writes)
        check_mix(servers["b7"], mix)
        samples = measure_memory(wrk, servers["b7"], mix, tmp)
    finally:
        for server in servers.values():
            server.stop()
        drop_role(env["PMSC_ADMIN_DATABASE_URL"], role)
    lines = report_b3_b4(results, branch, db_times)
    lines += report_b7(samples, len(mix), writes=writes)
    if problems:
        lines += ["", *(f"Warning: {p}" for p in problems)]
    return lines


def _api_token(server: Server, branch: Branch, admin_token: str) -> str:
    """A read-write API token of the branch, created through the API."""
    body, _headers = _http(
        "POST",
        f"{server.url}/api/v1/t/{branch.slug}/api-tokens",
        f"Bearer {admin_token}",
        json.dumps({"name": "bench", "scope": "read-write"}),
    )
    return json.loads(body)["secret"]


if __name__ == "__main__":
    main()
