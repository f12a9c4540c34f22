"""B5, tenant scale: what a branch's work costs at 10, 1,000 and 10,000 branches, and what
`pmsc db upgrade` costs on an empty database and on one holding 10,000 branches.

Measured, per database (SQLite; PostgreSQL too with PMSC_TEST_DATABASE_URL):

* tenant creation, `POST /api/v1/zone/tenants` (as `bench_tenant_creation`);
* the roster read, `GET /api/v1/t/<slug>/members?page_size=50`, of one measured branch that has
  the same roster (30 members, 2 party groups) at every scale; every other branch has the same
  roster too, so the shared `members` table holds 30 rows per branch (300,000 at 10,000);
* `pmsc db upgrade` from revision 0001 to head, empty vs 10,000 branches (see `UPGRADE_NOTE`).

Target: each ratio (10,000 vs 10) ≤ 1.2. The three databases are built first and then measured
one operation at a time, each scale in turn with the order rotating, so a burst of load from
other work on the machine hits every scale alike.

Run: `.venv/bin/python -m tests.perf.bench_tenant_scale`. Prints the figures and appends them
to tests/perf/RESULTS.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import Column, Engine, MetaData, Table, Text, text

from service import create_app, schema_migrations
from service.config import Settings
from service.crypto import EncryptedText
from service.database import db, make_engine
from service.members.models import Member, PartyGroup
from tenants.orm import uuid7
from tenants.registry import Tenant
from tests.conftest import DATA_KEY, drop_pg_database, environment
from tests.oidc_issuer import TestIssuer
from tests.perf.bench_tenant_creation import CREATIONS, SIZES, _time_creations
from tests.perf.results import append_results

ROSTER = 30  # members per branch: a small private-enterprise branch with its workers
GROUPS = 2  # party groups per branch
READS = 300  # roster reads measured per scale
UPGRADE_ROUNDS = 5
UPGRADE_FROM = "0001"
MEASURED = "measured-branch"
TARGET = 1.2
BATCH = 500  # branches per bulk insert (15,000 member rows)

UPGRADE_NOTE = (
    "What the timed upgrade does: each round first downgrades to 0001 (dropping the tables of "
    "0002–0005 with their rows), then upgrades to head: 0002 creates users, sessions, role "
    "grants and API tokens; 0003 the outbox, training targets, activities, attendance and zone "
    "activities with registrations; 0004 the rollup read model, meeting schedule and ranking "
    "weights; each tenant-owned table gets its row-level security policies; 0005 rewrites every "
    "table's two policies (the zone reads as its own role); then the app role its grants. All "
    "five revisions are DDL only: none rewrites or backfills tenant rows, and "
    "the foreign keys they add to `tenants` are created with their (empty) tables, so nothing "
    "is validated against existing rows. The 0001 tables (`tenants`, `members`, `party_groups`, "
    "`tenant_audit_events`) keep their rows throughout. A future revision that rewrites, "
    "backfills or indexes a tenant-owned table would grow with the rows (300,000 members at "
    "10,000 branches): time it on its own when one is written."
)


# --- building a zone fast: bulk inserts as the database owner ------------------------------------


def _raw(table: Table) -> Table:
    """`table` with its encrypted columns as plain text, to insert ciphertext made once rather
    than encrypting 600,000 values; every other column keeps its type (UTC timestamps)."""
    return Table(
        table.name,
        MetaData(),
        *(
            Column(c.name, Text() if isinstance(c.type, EncryptedText) else c.type)
            for c in table.columns
        ),
    )


MEMBERS, GROUPS_TABLE = _raw(Member.__table__), _raw(PartyGroup.__table__)
TENANTS = Tenant.__table__


def _id_card(birth: date, serial: int) -> str:
    body = f"320505{birth:%Y%m%d}{serial:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def roster_template() -> list[dict]:
    """One branch's 30 members (party group and ids left out): 12 party members (9 full, 3
    probationary), 3 league members, 13 workers, 2 others; phone and ID card encrypted."""
    cipher = Fernet(DATA_KEY.encode())
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
    categories = (
        [("party-member", "full")] * 9
        + [("party-member", "probationary")] * 3
        + [("league-member", None)] * 3
        + [("worker", None)] * 13
        + [("other", None)] * 2
    )
    rows = []
    for i, (category, status) in enumerate(categories):
        birth = date(1970 + i, 1 + i % 12, 1 + i % 28)
        party = category == "party-member"
        rows.append(
            {
                "name": surnames[i % len(surnames)] + given[i % len(given)],
                "gender": "male" if i % 2 else "female",
                "birth_date": birth,
                "ethnicity": "汉族",
                "education": ("bachelor", "junior-college", "senior-high", "master")[i % 4],
                "phone": cipher.encrypt(f"138{i:08d}".encode()).decode(),
                "id_card_number": cipher.encrypt(_id_card(birth, i).encode()).decode(),
                "category": category,
                "party_status": status,
                "joined_party_date": date(2010, 7, 1) if party else None,
                "full_membership_date": date(2011, 7, 1) if status == "full" else None,
                "position": "党员" if party else None,
                "notes": None,
                "version": 1,
            }
        )
    return rows


def _tenant_row(slug: str, index: int, now: datetime) -> dict:
    return {
        "id": uuid7(),
        "slug": slug,
        "name": f"支部{index}",
        "enterprise_name": f"企业{index}",
        "enterprise_type": ("private", "foreign-funded", "joint-venture", "other")[index % 4],
        "industry": ("制造", "软件", "物流", "化工", "医药")[index % 5],
        "employee_count": 100 + index % 400,
        "organization_type": "branch",
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def populate(engine: Engine, branches: int, template: list[dict]) -> None:
    """`branches` branches with the same roster each, then the measured branch (inserted last,
    as the newest one). As the owner: RLS binds the app role, and the rows are each branch's own."""
    now = datetime.now(UTC)
    slugs = [f"bulk-{i:06d}" for i in range(branches - 1)] + [MEASURED]
    for start in range(0, len(slugs), BATCH):
        tenants, groups, members = [], [], []
        for index, slug in enumerate(slugs[start : start + BATCH], start):
            tenant = _tenant_row(slug, index, now)
            tenants.append(tenant)
            group_ids = [uuid7() for _ in range(GROUPS)]
            groups += [
                {
                    "tenant_id": tenant["id"],
                    "id": group_id,
                    "name": f"第{n + 1}党小组",
                    "notes": None,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for n, group_id in enumerate(group_ids)
            ]
            members += [
                {
                    **row,
                    "tenant_id": tenant["id"],
                    "id": uuid7(),
                    "party_group_id": group_ids[n % GROUPS] if row["party_status"] else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, row in enumerate(template)
            ]
        with engine.begin() as connection:
            connection.execute(TENANTS.insert(), tenants)
            connection.execute(GROUPS_TABLE.insert(), groups)
            connection.execute(MEMBERS.insert(), members)
    with engine.connect() as connection:
        # a live database has statistics (autovacuum); bulk-loaded tables get them now
        connection.execute(text("ANALYZE"))
        connection.commit()


# --- one scale: a database, its app, and the callers ---------------------------------------------


@dataclass
class Scale:
    branches: int
    env: dict[str, str]
    pg_name: str | None
    app: Flask
    zone_token: str
    branch_token: str
    creations: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)


def _fresh(backend: str, tmp: Path, issuer: TestIssuer) -> tuple[dict[str, str], str | None]:
    env, name = environment(
        backend, tmp, PMSC_OIDC_ISSUER=issuer.url, PMSC_OIDC_AUDIENCE=issuer.audience
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True)
    return env, name


def build_scale(backend: str, tmp: Path, issuer: TestIssuer, branches: int) -> Scale:
    """A database at head holding `branches` branches (the measured one included)."""
    env, name = _fresh(backend, tmp, issuer)
    try:
        settings = Settings.from_env(env)
        schema_migrations.upgrade(settings)
        owner = make_engine(settings.admin_database_url)
        started = time.perf_counter()
        populate(owner, branches, roster_template())
        owner.dispose()
        print(f"  {backend}: {branches:,} branches built in {time.perf_counter() - started:.1f} s")
        app = create_app(env)
    except BaseException:
        if name:
            drop_pg_database(name)
        raise
    return Scale(
        branches,
        env,
        name,
        app,
        zone_token=issuer.token(["pmsc:zone:admin"], lifetime=7200),
        branch_token=issuer.token([f"pmsc:branch:{MEASURED}:admin"], lifetime=7200),
    )


def time_reads(scale: Scale, count: int) -> list[float]:
    """`count` reads of the measured branch's roster (one page holding all 30)."""
    client = scale.app.test_client()
    headers = {"Authorization": f"Bearer {scale.branch_token}"}
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(f"/api/v1/t/{MEASURED}/members?page_size=50", headers=headers)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert len(response.json) == ROSTER, len(response.json)
    return timings


def close(scale: Scale) -> None:
    with scale.app.app_context():
        db.engine.dispose()


# --- pmsc db upgrade -----------------------------------------------------------------------------


def _upgrade_in_process(env: dict[str, str]) -> None:
    schema_migrations.upgrade(Settings.from_env(env))


def _upgrade_by_cli(env: dict[str, str]) -> None:
    pmsc = Path(sys.executable).with_name("pmsc")
    subprocess.run(
        [str(pmsc), "db", "upgrade"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def time_upgrade(env: dict[str, str], upgrade: Callable[[dict[str, str]], None]) -> float:
    """Downgrade to `UPGRADE_FROM` (untimed), then upgrade to head (timed)."""
    settings = Settings.from_env(env)
    schema_migrations.downgrade(settings, UPGRADE_FROM)
    start = time.perf_counter()
    upgrade(env)
    elapsed = time.perf_counter() - start
    current = schema_migrations.current_revision(settings.admin_database_url)
    assert current == schema_migrations.head_revision(), current
    return elapsed


@dataclass
class Upgrades:
    fresh: float  # empty database, nothing to head
    in_process: dict[str, list[float]]  # "empty" / "10,000": schema_migrations.upgrade
    cli: dict[str, list[float]]  # the same through `pmsc db upgrade`


# --- a backend -----------------------------------------------------------------------------------


@contextmanager
def _scales(backend: str, tmp: Path, issuer: TestIssuer) -> Iterator[list[Scale]]:
    scales: list[Scale] = []
    try:
        for size in SIZES:
            folder = tmp / str(size)
            folder.mkdir()
            scales.append(build_scale(backend, folder, issuer, size))
        yield scales
    finally:
        for scale in scales:
            close(scale)
            if scale.pg_name:
                drop_pg_database(scale.pg_name)


def measure(backend: str, issuer: TestIssuer) -> tuple[list[Scale], Upgrades]:
    """Creation and roster reads at every scale (interleaved rounds), then the upgrades."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        empty_env, empty_name = _fresh(backend, tmp / "empty", issuer)
        try:
            start = time.perf_counter()
            _upgrade_in_process(empty_env)
            upgrades = Upgrades(time.perf_counter() - start, {}, {})
            with _scales(backend, tmp, issuer) as scales:
                for scale in scales:  # warm-up: JWKS cache, connection pool, statement caches
                    _time_creations(scale.app, scale.zone_token, 3)
                    time_reads(scale, 5)
                for turn in range(max(READS, CREATIONS)):
                    # one operation per scale in turn, the order rotating: a burst of load from
                    # elsewhere on the machine lands on every scale alike (blocks of 25-50
                    # operations per scale left the PostgreSQL ratios within noise of 1.2)
                    for scale in scales[turn % len(scales) :] + scales[: turn % len(scales)]:
                        if turn < CREATIONS:
                            scale.creations += _time_creations(scale.app, scale.zone_token, 1)
                        if turn < READS:
                            scale.reads += time_reads(scale, 1)
                largest = scales[-1]
                close(largest)  # no pooled connection of the app in the way of the DDL
                databases = {"empty": empty_env, f"{largest.branches:,}": largest.env}
                for _ in range(UPGRADE_ROUNDS):  # interleaved, as the reads
                    for label, env in databases.items():
                        for how, upgrade in (
                            (upgrades.in_process, _upgrade_in_process),
                            (upgrades.cli, _upgrade_by_cli),
                        ):
                            how.setdefault(label, []).append(time_upgrade(env, upgrade))
        finally:
            if empty_name:
                drop_pg_database(empty_name)
    return scales, upgrades


def _p50_ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def _p95_ms(timings: list[float]) -> float:
    return statistics.quantiles(timings, n=20)[18] * 1000


def _verdict(ratio: float) -> str:
    return "met" if ratio <= TARGET else "MISSED"


def report(backend: str, scales: list[Scale], upgrades: Upgrades) -> list[str]:
    base = scales[0]
    lines = [
        f"**{backend}**",
        "",
        "| existing branches | creation p50 ms | p95 ms | ratio vs 10 | roster read p50 ms "
        "| p95 ms | ratio vs 10 | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scale in scales:
        creation = _p50_ms(scale.creations) / _p50_ms(base.creations)
        read = _p50_ms(scale.reads) / _p50_ms(base.reads)
        lines.append(
            f"| {scale.branches:,} | {_p50_ms(scale.creations):.2f} | "
            f"{_p95_ms(scale.creations):.2f} | {creation:.2f} | {_p50_ms(scale.reads):.2f} | "
            f"{_p95_ms(scale.reads):.2f} | {read:.2f} | ≤ {TARGET} "
            f"({_verdict(creation)}, {_verdict(read)}) |"
        )
    empty, large = upgrades.in_process
    lines += [
        "",
        f"Upgrade, {UPGRADE_FROM} → head, median of {UPGRADE_ROUNDS} rounds "
        f"(a fresh empty database from nothing to head: {upgrades.fresh * 1000:.0f} ms):",
        "",
        f"| how | empty ms | {large} branches ms | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for how, figures in (
        ("`schema_migrations.upgrade` (what the command runs)", upgrades.in_process),
        ("`pmsc db upgrade` (process start included)", upgrades.cli),
    ):
        low, high = statistics.median(figures[empty]), statistics.median(figures[large])
        ratio = high / low
        lines.append(
            f"| {how} | {low * 1000:.0f} | {high * 1000:.0f} | {ratio:.2f} | "
            f"≤ {TARGET} ({_verdict(ratio)}) |"
        )
    return [*lines, ""]


def main() -> None:
    issuer = TestIssuer().start()
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("PMSC_TEST_DATABASE_URL") else [])
    lines = [
        f"Tenant scale (B5), in-process client, JWT validation included. Each scale is its own "
        f"database; every branch has a roster of {ROSTER} members and {GROUPS} party groups "
        f"(bulk-inserted, then ANALYZE). Creation: {CREATIONS} `POST /api/v1/zone/tenants` "
        f"(audited). Roster read: {READS} `GET /api/v1/t/<slug>/members?page_size=50` of the "
        f"same {ROSTER}-member branch as its admin (decrypting and masking phones and ID cards). "
        "Measured one operation at a time, each scale in turn (the order rotating).",
        "",
    ]
    try:
        for backend in backends:
            print(f"{backend}: building {', '.join(f'{s:,}' for s in SIZES)} branches")
            load_before = os.getloadavg()[0]
            scales, upgrades = measure(backend, issuer)
            lines += [
                *report(backend, scales, upgrades),
                f"Load average (1 min) before and after: {load_before:.1f}, "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
                "",
            ]
    finally:
        issuer.stop()
    lines.append(UPGRADE_NOTE)
    print("\n".join(lines))
    append_results("tenant scale (B5)", lines)


if __name__ == "__main__":
    main()
