"""B1 (issue 5): the full zone recompute against its floor, on the synthetic `large` zone (2,000
branches, 200,000 members, ~64,000 activities, ~1.9 million attendance records over 12 months).

* **Service**: `recompute_tenants()`, what `pmsc rollups recompute` runs: the set-based
  computation (a few GROUP BY queries in the zone context), then each branch's 26 rows written in
  its own tenant context (the isolation layer checks every row; row-level security again).
* **Floor**: the same aggregation as ONE hand-tuned SQL statement over the same tables, and it
  writes its rows too: `INSERT INTO rollup_floor SELECT …`, a scratch table with the columns,
  indexes and foreign key of `branch_rollups` (a zone context may not write `branch_rollups`
  itself, and no single statement can write 2,000 tenants' rows under its row-level security).
  Run twice: as the app role in the zone scope, so it reads through the same row-level security
  with the same planner settings as the service (the floor the service could reach), and as
  the tables' owner, past row-level security (the hardware's floor, for reference). Its rows
  are checked equal to the service's, every figure of every period.

Loads the zone once per run (minutes), then `ROUNDS` rounds, each timing the three in turn (the
machine is shared and noisy: medians, and the ratio within the same run). A second line times
the service on SQLite with `medium` (the floor statement is PostgreSQL's; none there).

Run: `PMSC_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m
tests.perf.bench_rollup [--size large|medium|small] [--rounds N] [--no-sqlite]`. Prints the
figures and appends them to tests/perf/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from service import create_app, schema_migrations, zone_generator
from service.activities.models import Activity, Attendance
from service.activities.training import ZONE_TIME
from service.audit.recorder import set_actor
from service.config import Settings
from service.database import db
from service.rollups.compute import ZONE_SCAN_SETTINGS, periods_for
from service.rollups.jobs import recompute_tenants
from tenants.context import Context
from tenants.isolation import bind_context
from tenants.rls import zone_role
from tests.conftest import drop_pg_database, environment
from tests.perf import zone_template
from tests.perf.results import append_results

TARGET = 1.5
SEED = zone_generator.DEFAULT_SEED
FIGURE_COLUMNS = (
    "tenant_id, period, members_total, party_members, party_full, party_probationary, "
    "league_members, workers, others, activities_held, activities_by_kind, meetings_due, "
    "meetings_held, meetings_detail, attendance_records, attendance_present, "
    "training_with_target, training_compliant"
)

# The floor. Months in the zone's calendar (UTC+8) by date arithmetic on each activity once;
# attendance counted per activity in one pass; training hours summed per member (a column per
# year) and compared with the year's target in SQL; the schedule's sub-periods expanded per
# branch and joined to the monthly counts; `{kind: …}` documents built with jsonb_object_agg.
# The schedule and targets are read from their tables, with the defaults the service applies.
FLOOR_SQL = """
INSERT INTO rollup_floor (
    tenant_id, id, period, members_total, party_members, party_full, party_probationary,
    league_members, workers, others, activities_held, activities_by_kind, meetings_due,
    meetings_held, meetings_detail, attendance_records, attendance_present,
    training_with_target, training_compliant, computed_at)
WITH
branches AS (SELECT id AS tenant_id FROM tenants WHERE status IN ('active', 'archived')),
years AS (SELECT generate_series(%(first_year)s::int, %(last_year)s::int) AS y),
months AS (SELECT y, generate_series(1, 12) AS m FROM years),
periods AS (
    SELECT y, 0 AS m, y::text AS period FROM years
    UNION ALL SELECT y, m, y || '-' || lpad(m::text, 2, '0') FROM months),
reqs AS (
    SELECT kind::text, frequency::text, times FROM meeting_requirements
    UNION ALL
    SELECT * FROM (VALUES ('committee-meeting', 'monthly', 1), ('general-meeting', 'quarterly', 1),
                          ('party-lecture', 'quarterly', 1)) AS d (kind, frequency, times)
    WHERE NOT EXISTS (SELECT FROM meeting_requirements)),
targets AS (
    SELECT years.y, c.category,
           CASE WHEN t.year IS NOT NULL THEN t.hours WHEN c.category = 'party-member' THEN 32 END
               AS hours
    FROM years
    CROSS JOIN (VALUES ('party-member'), ('league-member'), ('worker'), ('other')) AS c (category)
    LEFT JOIN training_targets t ON t.year = years.y AND t.category = c.category),
roster AS (
    SELECT tenant_id, count(*) AS total,
           count(*) FILTER (WHERE category = 'party-member') AS party,
           count(*) FILTER (WHERE category = 'party-member' AND party_status = 'full') AS full_,
           count(*) FILTER (WHERE category = 'party-member' AND party_status = 'probationary')
               AS probationary,
           count(*) FILTER (WHERE category = 'league-member') AS league,
           count(*) FILTER (WHERE category = 'worker') AS workers,
           count(*) FILTER (WHERE category = 'other') AS others
    FROM members GROUP BY tenant_id),
acts AS NOT MATERIALIZED (
    SELECT tenant_id, id, kind::text AS kind, study_hours,
           extract(year FROM timezone('UTC', starts_at) + interval '8 hours')::int AS y,
           extract(month FROM timezone('UTC', starts_at) + interval '8 hours')::int AS m
    FROM activities
    WHERE status = 'held' AND starts_at >= %(start)s AND starts_at < %(end)s),
marks AS (
    SELECT tenant_id, activity_id, count(*) AS n,
           count(*) FILTER (WHERE status IN ('present', 'late')) AS p
    FROM attendance GROUP BY tenant_id, activity_id),
held AS (
    SELECT a.tenant_id, a.kind, a.y, a.m, count(*) AS c,
           coalesce(sum(k.n), 0) AS n, coalesce(sum(k.p), 0) AS p
    FROM acts a LEFT JOIN marks k ON k.tenant_id = a.tenant_id AND k.activity_id = a.id
    GROUP BY a.tenant_id, a.kind, a.y, a.m),
activity AS (
    SELECT tenant_id, y, m, sum(c) AS held, jsonb_object_agg(kind, c) AS by_kind,
           sum(n) AS n, sum(p) AS p
    FROM (SELECT tenant_id, y, m, kind, c, n, p FROM held
          UNION ALL
          SELECT tenant_id, y, 0, kind, sum(c), sum(n), sum(p) FROM held
          GROUP BY tenant_id, y, kind) AS x
    GROUP BY tenant_id, y, m),
subs AS (
    SELECT r.kind, r.times, years.y, s.first, s.first + span.n - 1 AS last
    FROM reqs r CROSS JOIN years
    CROSS JOIN LATERAL (SELECT CASE r.frequency WHEN 'monthly' THEN 1 WHEN 'quarterly' THEN 3
                                ELSE 12 END AS n) AS span
    CROSS JOIN LATERAL generate_series(1, 12, span.n) AS s (first)),
sub_held AS (
    SELECT b.tenant_id, s.kind, s.times, s.y, s.first, s.last,
           least(coalesce(sum(h.c), 0), s.times) AS done
    FROM branches b CROSS JOIN subs s
    LEFT JOIN held h ON h.tenant_id = b.tenant_id AND h.kind = s.kind AND h.y = s.y
                    AND h.m BETWEEN s.first AND s.last
    GROUP BY b.tenant_id, s.kind, s.times, s.y, s.first, s.last),
meet AS (
    SELECT tenant_id, y, 0 AS m, kind,
           coalesce(sum(done) FILTER (WHERE (y, first) <= (%(now_year)s::int, %(now_month)s::int)),
                    0) AS held,
           coalesce(sum(times) FILTER (WHERE (y, first) <= (%(now_year)s::int, %(now_month)s::int)),
                    0) AS due
    FROM sub_held GROUP BY tenant_id, y, kind
    UNION ALL
    SELECT b.tenant_id, mo.y, mo.m, r.kind, coalesce(sh.done, 0), coalesce(sh.times, 0)
    FROM branches b CROSS JOIN months mo CROSS JOIN reqs r
    LEFT JOIN sub_held sh ON sh.tenant_id = b.tenant_id AND sh.kind = r.kind AND sh.y = mo.y
                         AND sh.last = mo.m
                         AND (mo.y, mo.m) <= (%(now_year)s::int, %(now_month)s::int)),
meetings AS (
    SELECT tenant_id, y, m, sum(due) AS due, sum(held) AS held,
           jsonb_object_agg(kind, jsonb_build_object('held', held, 'due', due)) AS detail
    FROM meet GROUP BY tenant_id, y, m),
hours AS (
    SELECT tenant_id, member_id,
           sum(CASE WHEN y = %(first_year)s::int THEN h ELSE 0 END) AS h_first,
           sum(CASE WHEN y = %(last_year)s::int THEN h ELSE 0 END) AS h_last
    FROM (SELECT t.tenant_id, t.member_id, a.y, a.study_hours AS h
          FROM attendance t JOIN acts a ON a.tenant_id = t.tenant_id AND a.id = t.activity_id
          WHERE t.status IN ('present', 'late') AND a.study_hours > 0
          UNION ALL
          SELECT r.tenant_id, r.member_id,
                 extract(year FROM timezone('UTC', z.starts_at) + interval '8 hours')::int,
                 z.study_hours
          FROM zone_registrations r JOIN zone_activities z ON z.id = r.zone_activity_id
          WHERE r.attendance IN ('present', 'late') AND z.status = 'held' AND z.study_hours > 0
            AND z.starts_at >= %(start)s AND z.starts_at < %(end)s) AS x
    GROUP BY tenant_id, member_id),
training AS (
    SELECT mb.tenant_id, tg.y, count(*) AS with_target,
           count(*) FILTER (WHERE coalesce(CASE WHEN tg.y = %(first_year)s::int THEN h.h_first
                                                ELSE h.h_last END, 0) >= tg.hours) AS compliant
    FROM members mb JOIN targets tg ON tg.category = mb.category AND tg.hours IS NOT NULL
    LEFT JOIN hours h ON h.tenant_id = mb.tenant_id AND h.member_id = mb.id
    GROUP BY mb.tenant_id, tg.y)
SELECT b.tenant_id, gen_random_uuid(), p.period,
       coalesce(r.total, 0), coalesce(r.party, 0), coalesce(r.full_, 0),
       coalesce(r.probationary, 0), coalesce(r.league, 0), coalesce(r.workers, 0),
       coalesce(r.others, 0),
       coalesce(a.held, 0), coalesce(a.by_kind, '{}'),
       coalesce(mt.due, 0), coalesce(mt.held, 0), coalesce(mt.detail, '{}'),
       coalesce(a.n, 0), coalesce(a.p, 0),
       CASE WHEN p.m = 0 THEN coalesce(tr.with_target, 0) ELSE 0 END,
       CASE WHEN p.m = 0 THEN coalesce(tr.compliant, 0) ELSE 0 END,
       %(computed_at)s
FROM branches b CROSS JOIN periods p
LEFT JOIN roster r ON r.tenant_id = b.tenant_id
LEFT JOIN activity a ON a.tenant_id = b.tenant_id AND a.y = p.y AND a.m = p.m
LEFT JOIN meetings mt ON mt.tenant_id = b.tenant_id AND mt.y = p.y AND mt.m = p.m
LEFT JOIN training tr ON tr.tenant_id = b.tenant_id AND tr.y = p.y
"""
# the owner reads with exact row estimates: it needs no more than memory and no JIT (compiling
# the statement costs seconds on this machine and saves less)
OWNER_SETTINGS = {"work_mem": ZONE_SCAN_SETTINGS["work_mem"], "jit": "off"}


def migrated_app(env: dict[str, str]):
    """The app of a fresh database of `env`, migrated to head."""
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    return create_app(env)


def load_zone(app, owner_url: str | None, size: str) -> zone_generator.ZoneLoad:
    """Load the synthetic zone of `size` (seed `SEED`) into the app's database, then (on
    PostgreSQL, as the owner) VACUUM ANALYZE it, so every measurement starts from fresh
    statistics and visibility maps."""
    zone = zone_generator.SIZES[size]
    on_postgresql = bool(owner_url and owner_url.startswith("postgresql"))
    if on_postgresql:
        with app.app_context():
            db.engine.dispose()  # the copy replaces the database under the app's pool
        copied = zone_template.restore(owner_url, size, SEED)
        if copied is not None:
            print(f"  copied from template {zone_template.template_name(size, SEED)} "
                  f"in {copied:.0f} s", flush=True)  # fmt: skip
            return _counted(app, size, copied)

    def progress(done: int, total: int) -> None:
        if done % max(1, total // 10) == 0:
            print(f"  loaded {done}/{total} branches", flush=True)

    with app.app_context():
        session = db.new_session()
        set_actor(session, {"iss": None, "sub": "bench:rollup", "name": None})
        load = zone_generator.load_zone(session, size=zone, seed=SEED, progress=progress)
        session.commit()
        session.close()
    if on_postgresql:
        owner = create_engine(owner_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        owner.dispose()
        with app.app_context():
            db.engine.dispose()
        zone_template.keep(owner_url, size, SEED)
    return load


def _counted(app, size: str, seconds: float) -> zone_generator.ZoneLoad:
    """What a copied zone holds, counted (the generator's own figures for a load)."""
    from service.members.models import Member, PartyGroup
    from tenants.registry import Tenant

    with app.app_context():
        session = db.new_session()
        bind_context(session, Context.zone())
        load = zone_generator.ZoneLoad(size=size, seed=SEED, seconds=seconds)
        load.slugs = list(session.scalars(select(Tenant.slug).order_by(Tenant.slug)))
        load.branches = len(load.slugs)
        load.party_groups = session.scalar(select(func.count()).select_from(PartyGroup))
        load.members = session.scalar(select(func.count()).select_from(Member))
        load.activities = session.scalar(select(func.count()).select_from(Activity))
        load.attendance = session.scalar(select(func.count()).select_from(Attendance))
        session.close()
    return load


class StatementClock:
    """Time the service spends in the database, by kind of statement (cursor time)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.seconds: dict[str, float] = defaultdict(float)

    def __enter__(self) -> StatementClock:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench.started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        spent = time.perf_counter() - conn.info.pop("bench.started")
        head = statement.lstrip()[:20].upper()
        kind = "write" if head.startswith(("INSERT", "DELETE")) else "read"
        if "SET_CONFIG('PMSC." in statement.upper():
            kind = "context"
        self.seconds[kind] += spent


def _service(app) -> tuple[float, dict[str, float]]:
    with app.app_context():
        with StatementClock(db.engine) as clock:
            started = time.perf_counter()
            report = recompute_tenants()
            seconds = time.perf_counter() - started
        assert not report.failed, report.failed
    return seconds, dict(clock.seconds)


def _floor_params() -> dict:
    now = datetime.now(ZONE_TIME)
    first, last = now.year - 1, now.year
    assert periods_for(now)[0] == str(first)
    return {
        "first_year": first,
        "last_year": last,
        "start": datetime(first, 1, 1, tzinfo=ZONE_TIME),
        "end": datetime(last + 1, 1, 1, tzinfo=ZONE_TIME),
        "now_year": now.year,
        "now_month": now.month,
        "computed_at": datetime.now(UTC),
    }


def _floor(url: str, owner_url: str, *, zone_scope: bool) -> float:
    """One run of the floor statement into an emptied `rollup_floor` (emptied outside the
    timing); as the app role in the zone scope, or as the owner."""
    owner = create_engine(owner_url)
    with owner.begin() as connection:
        connection.exec_driver_sql("TRUNCATE rollup_floor")
    owner.dispose()
    engine = create_engine(url if zone_scope else owner_url)
    settings = ZONE_SCAN_SETTINGS if zone_scope else OWNER_SETTINGS
    try:
        with engine.begin() as connection:
            if zone_scope:  # what the service's zone context does (tenants.isolation)
                connection.execute(
                    text(
                        "SELECT set_config('pmsc.scope', 'zone', true), "
                        "set_config('role', :r, true)"
                    ),
                    {"r": zone_role(make_url(url).username)},
                )
            for name, value in settings.items():
                connection.execute(
                    text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
                )
            started = time.perf_counter()
            connection.exec_driver_sql(FLOOR_SQL, _floor_params())
            return time.perf_counter() - started
    finally:
        engine.dispose()


def _prepare_floor(owner_url: str, app_role: str) -> None:
    owner = create_engine(owner_url)
    with owner.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE rollup_floor (LIKE branch_rollups INCLUDING ALL, "
            "FOREIGN KEY (tenant_id) REFERENCES tenants (id))"
        )
        for role in (app_role, zone_role(app_role)):
            connection.exec_driver_sql(f'GRANT SELECT, INSERT ON rollup_floor TO "{role}"')
    owner.dispose()


def _check_floor(owner_url: str) -> int:
    """Rows of the floor and of the service that differ in any figure (0: the same rows)."""
    owner = create_engine(owner_url)
    with owner.connect() as connection:
        differing = connection.exec_driver_sql(
            f"SELECT count(*) FROM ((SELECT {FIGURE_COLUMNS} FROM rollup_floor "
            f"EXCEPT SELECT {FIGURE_COLUMNS} FROM branch_rollups) UNION ALL "
            f"(SELECT {FIGURE_COLUMNS} FROM branch_rollups "
            f"EXCEPT SELECT {FIGURE_COLUMNS} FROM rollup_floor)) AS d"
        ).scalar()
        total = connection.exec_driver_sql("SELECT count(*) FROM rollup_floor").scalar()
    owner.dispose()
    assert total, "the floor wrote no rows"
    return differing


def measure_postgresql(size: str, rounds: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        env, name = environment("postgresql", Path(tmp))
        try:
            print(f"loading {size} into PostgreSQL database {name} …", flush=True)
            app = migrated_app(env)
            url, owner_url = env["PMSC_DATABASE_URL"], env["PMSC_ADMIN_DATABASE_URL"]
            load = load_zone(app, owner_url, size)
            print(f"  {load.branches} branches, {load.members} members, {load.activities} "
                  f"activities, {load.attendance} attendance records in {load.seconds:.0f} s",
                  flush=True)  # fmt: skip
            _prepare_floor(owner_url, env["PMSC_DB_APP_ROLE"])
            warm, _ = _service(app)  # the rows exist from here on: each round refreshes them
            print(f"  warm-up recompute: {warm:.2f} s", flush=True)
            service, floor_zone, floor_owner, parts = [], [], [], defaultdict(list)
            for index in range(rounds):
                seconds, spent = _service(app)
                service.append(seconds)
                for kind, value in spent.items():
                    parts[kind].append(value)
                floor_zone.append(_floor(url, owner_url, zone_scope=True))
                if index == 0:
                    differing = _check_floor(owner_url)
                    assert differing == 0, (
                        f"the floor's rows differ from the service's: {differing}"
                    )
                floor_owner.append(_floor(url, owner_url, zone_scope=False))
                print(f"  round {index + 1}: service {seconds:.2f} s, floor (zone scope) "
                      f"{floor_zone[-1]:.2f} s, floor (owner) {floor_owner[-1]:.2f} s",
                      flush=True)  # fmt: skip
            with app.app_context():
                db.engine.dispose()
        finally:
            if name:
                drop_pg_database(name)
    s, fz, fo = (statistics.median(x) for x in (service, floor_zone, floor_owner))
    split = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in sorted(parts.items()))
    return [
        f"| PostgreSQL | {size} ({load.branches:,} branches, {load.members:,} members, "
        f"{load.activities:,} activities, {load.attendance:,} attendance) | {s:.2f} | "
        f"{fz:.2f} | **{s / fz:.2f}×** | {fo:.2f} | {s / fo:.2f}× | ≤ {TARGET}× "
        f"{'met' if s / fz <= TARGET else 'MISSED'} |",
        "",
        f"PostgreSQL, service time in the database (median cursor time per round): {split}; "
        "the rest is Python (the rules on the aggregates, building and binding the rows).",
        "Per round (service / floor zone scope / floor owner, s): "
        + "; ".join(
            f"{a:.2f} / {b:.2f} / {c:.2f}"
            for a, b, c in zip(service, floor_zone, floor_owner, strict=True)
        ),
    ]


def measure_sqlite(size: str, rounds: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        env, _ = environment("sqlite", Path(tmp))
        print(f"loading {size} into SQLite …", flush=True)
        app = migrated_app(env)
        load = load_zone(app, None, size)
        _service(app)
        times = [_service(app)[0] for _ in range(rounds)]
        with app.app_context():
            db.engine.dispose()
    return (
        f"| SQLite | {size} ({load.branches:,} branches, {load.members:,} members, "
        f"{load.activities:,} activities, {load.attendance:,} attendance) | "
        f"{statistics.median(times):.2f} | — | — | — | — | (no floor: the statement is "
        "PostgreSQL's) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="large", choices=sorted(zone_generator.SIZES))
    parser.add_argument("--sqlite-size", default="medium", choices=sorted(zone_generator.SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-sqlite", action="store_true")
    options = parser.parse_args()
    rows: list[str] = []
    notes: list[str] = []
    if os.environ.get("PMSC_TEST_DATABASE_URL"):
        first, *rest = measure_postgresql(options.size, options.rounds)
        rows.append(first)
        notes += rest
    else:
        print("PostgreSQL part skipped: PMSC_TEST_DATABASE_URL is not set")
    if not options.no_sqlite:
        rows.append(measure_sqlite(options.sqlite_size, options.rounds))
    lines = [
        f"Full zone recompute (`recompute_tenants()`, what `pmsc rollups recompute` runs) "
        f"against the floor, one SQL statement computing and writing the same rows "
        f"(checked equal), median of {options.rounds} interleaved rounds after a warm-up:",
        "",
        "| database | zone | service s | floor s (app role, zone scope) | ratio | "
        "floor s (owner, no RLS) | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        *notes,
    ]
    print("\n".join(lines))
    append_results("rollup zone recompute (issue 5, B1)", lines)


if __name__ == "__main__":
    main()
