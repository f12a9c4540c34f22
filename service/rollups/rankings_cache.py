"""The zone's ranking, memoized per process and never stale: an entry is served only while the
database still holds exactly what it was ranked from.

Every read first takes a **fingerprint** of everything `ranking.rank` reads — one aggregate
query (three small aggregates joined), in the zone context:

* the period's `branch_rollups` rows: how many, the sum of their `computed_at` (exact, to the
  microsecond) and the latest one. A row is only ever replaced by one computed *later*
  (`compute.write_rows` deletes rows older than its own and `compute.upsert_rows` updates only
  `where computed_at < excluded.computed_at`), so any rewrite of a row — even with the same
  figures, even by a worker whose clock runs behind another's — raises its `computed_at` and so
  the sum; an added row raises the count, a deleted one lowers it; a row deleted and another
  added in its place move the sum by the difference of their instants (equal only to the
  microsecond);
* `tenants`, all of them (status, name, industry and enterprise type all decide who is ranked
  and how): how many, the sum of `version` (the ORM's version counter: +1 on every update of a
  tenant) and the sum of `updated_at` (set on insert and, `onupdate`, on every update, Core ones
  included); a tenant deleted and another registered in its place change the `updated_at` sum;
* the zone's `RankingWeight` rows: the effective weight of each indicator itself (four values;
  there is no version column, and the values are what matters).

`rank` reads nothing else: not the meeting schedule nor the training targets (those shape the
rollup rows, and reach the ranking only through a recompute, which rewrites the rows).

An entry is kept per request inputs (period, industry, enterprise type) with the fingerprint it
was ranked at; a read is served from it only when the fingerprint just taken is equal. A miss
ranks, takes the fingerprint again and keeps the result only if nothing changed in between and
the weights the ranking read are the fingerprint's (under READ COMMITTED each statement sees its
own snapshot: this proves the ranking saw the fingerprinted state). Otherwise the fresh result
is served once and not kept, with an ETag that matches nothing.

The same fingerprint, with the inputs and `BODY_FORMAT`, is the rankings' strong ETag, so
`If-None-Match` gives 304 without ranking or encoding anything; every process computes the same
tag for the same state. The zone's JSON body is cached with the entry (encoded once: the body
must depend on nothing but the inputs and the database — not on the caller), and so are the
medians the branch standing shows.

Index: the rollup part reads the period's rows through `ix_branch_rollups_period` (a bitmap
scan, then the rows: ~4 ms for 2,000 rows on an idle server). A covering index with
`computed_at` would make it index-only (~1.5 ms measured), but would put `computed_at` in an
index, so every rewrite of a row by a recompute would also write index entries; not worth it.

Bounded: at most `MAX_ENTRIES` inputs, and `MAX_STANDINGS` standings in all (an entry of the
whole zone of 2,000 branches holds 2.6 MB of objects and 1.1 MB of body), least recently used
first out; an entry whose fingerprint went stale is replaced, never kept beside the new one.
Thread-safe (gunicorn may run threads); two threads missing at once both rank, which is safe.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Integer, Numeric, case, cast, extract, func, select, true
from sqlalchemy.orm import Session

from service.rollups import ranking
from service.rollups.models import DEFAULT_WEIGHTS, BranchRollup, Indicator, RankingWeight
from tenants.registry import EnterpriseType, Tenant

MAX_ENTRIES = 32
# about 1.9 KB of objects and 0.55 KB of encoded body per standing (2,000 branches: 2.6 MB and
# 1.1 MB): some 45 MB per process at most
MAX_STANDINGS = 24_000
# part of every ETag: bump it when the rankings body changes shape, so that a client's tag of
# the old shape never earns a 304 from the new code
BODY_FORMAT = 1
_EXTENSION = "pmsc_rankings_cache"


class Inputs(NamedTuple):
    """What a request asks for: the period and the filters (`None`: not filtered)."""

    period: str
    industry: str | None = None
    enterprise_type: str | None = None

    @classmethod
    def of(cls, period: str, industry: str | None = None, enterprise_type: Any = None) -> Inputs:
        """Normalized as `rank` reads them: an empty filter is no filter."""
        return cls(period, industry or None, str(enterprise_type) if enterprise_type else None)


class Fingerprint(NamedTuple):
    """The state of everything the period's ranking reads (see the module docstring)."""

    rollups: tuple  # count, timestamp sums, latest computed_at
    tenants: tuple  # count, sum(version), timestamp sums
    weights: tuple[Decimal, ...]  # effective weight per indicator, in `Indicator` order

    def etag_data(self, inputs: Inputs) -> dict[str, Any]:
        """What the ETag is made of: the same in every process for the same state."""
        return {
            "format": BODY_FORMAT,
            "inputs": list(inputs),
            "state": [str(value) for part in self for value in part],
        }


def _timestamp_sums(column: Any, dialect: str) -> list[ColumnElement]:
    """Exact sums of a timestamp column, to the microsecond. SQLite keeps timestamps as text
    (`YYYY-MM-DD HH:MM:SS.ffffff`): whole seconds and microseconds are summed apart, as integers
    that cannot overflow (a float sum would drop microseconds)."""
    if dialect == "sqlite":
        return [
            func.sum(cast(func.strftime("%s", column), Integer)),
            func.sum(cast(func.substr(column, 21, 6), Integer)),
        ]
    # PostgreSQL: EXTRACT gives numeric (exact, microseconds included); so does its sum
    return [func.sum(extract("epoch", column), type_=Numeric(asdecimal=True))]


def fingerprint(session: Session, period: str) -> Fingerprint:
    """The fingerprint of `period`'s ranking: one query. `session` must be in the zone context
    (it reads every branch's rows). On PostgreSQL the rollup part reads the period's rows through
    `ix_branch_rollups_period`."""
    dialect = session.get_bind().dialect.name
    rollups = (
        select(
            func.count(),
            *_timestamp_sums(BranchRollup.computed_at, dialect),
            func.max(BranchRollup.computed_at),
        )
        .where(BranchRollup.period == period)
        .subquery()
    )
    tenants = select(
        func.count(), func.sum(Tenant.version), *_timestamp_sums(Tenant.updated_at, dialect)
    ).subquery()
    weights = select(
        *(
            func.max(case((RankingWeight.indicator == indicator, RankingWeight.weight)))
            for indicator in Indicator
        )
    ).subquery()
    row = session.execute(
        select(rollups, tenants, weights).select_from(
            rollups.join(tenants, true()).join(weights, true())
        )
    ).one()
    n_rollups, n_tenants = len(rollups.c), len(tenants.c)
    stored = row[n_rollups + n_tenants :]
    return Fingerprint(
        rollups=tuple(row[:n_rollups]),
        tenants=tuple(row[n_rollups : n_rollups + n_tenants]),
        # as `ranking.weights` gives them: the stored figure or the default
        weights=tuple(
            Decimal(DEFAULT_WEIGHTS[i] if w is None else w)
            for i, w in zip(Indicator, stored, strict=True)
        ),
    )


@dataclass(eq=False)
class Entry:
    """A ranking at a fingerprint, with what is derived from it on demand. Shared between
    requests and threads: read it, never change it."""

    fingerprint: Fingerprint | None  # None: not settled (the state moved while ranking)
    ranking: ranking.Ranking
    body: bytes | None = None  # the zone's JSON body, encoded once
    _medians: dict | None = field(default=None, repr=False)
    _by_tenant: dict[uuid.UUID, ranking.Standing] | None = field(default=None, repr=False)

    @property
    def settled(self) -> bool:
        """Whether the ranking is known to be of its fingerprint's state (kept, ETag-able)."""
        return self.fingerprint is not None

    def encoded(self, encode: Callable[[ranking.Ranking], bytes]) -> bytes:
        """The body, encoded by `encode` the first time (two threads may both encode: they
        give the same bytes)."""
        if self.body is None:
            self.body = encode(self.ranking)
        return self.body

    def medians(self) -> dict[Indicator, ranking.Median]:
        """The zone's medians (for the branch standing), computed once."""
        if self._medians is None:
            self._medians = ranking.medians(self.ranking.standings)
        return self._medians

    def standing_of(self, tenant_id: uuid.UUID) -> ranking.Standing | None:
        """One branch's standing, or None (not in the compared set, or no figures)."""
        if self._by_tenant is None:
            self._by_tenant = {s.tenant_id: s for s in self.ranking.standings}
        return self._by_tenant.get(tenant_id)


class RankingCache:
    """Entries per `Inputs`, least recently used out first; counts its hits and misses."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_standings: int = MAX_STANDINGS) -> None:
        self.max_entries = max_entries
        self.max_standings = max_standings
        self._entries: OrderedDict[Inputs, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, inputs: Inputs, fingerprint: Fingerprint) -> Entry | None:
        """The entry of `inputs` if it was ranked at `fingerprint`, else None."""
        with self._lock:
            entry = self._entries.get(inputs)
            if entry is None or entry.fingerprint != fingerprint:
                self.misses += 1
                return None
            self._entries.move_to_end(inputs)
            self.hits += 1
            return entry

    def put(self, inputs: Inputs, entry: Entry) -> None:
        """Keep a settled entry for `inputs`, replacing the one it had."""
        if not entry.settled:
            raise ValueError("only a settled ranking can be kept")
        with self._lock:
            self._entries[inputs] = entry
            self._entries.move_to_end(inputs)
            standings = sum(len(e.ranking.standings) for e in self._entries.values())
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or standings > self.max_standings
            ):
                _, dropped = self._entries.popitem(last=False)
                standings -= len(dropped.ranking.standings)

    def clear(self) -> None:
        """Forget every entry (the benchmark's cold reads; never needed for freshness)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def cache_of(app: Flask | None = None) -> RankingCache:
    """The app's cache (one per app, so per process in production; tests run several apps
    over different databases in one process)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(_EXTENSION, RankingCache())
    return cache


def ranked(
    session: Session, inputs: Inputs, at: Fingerprint, cache: RankingCache | None = None
) -> Entry:
    """The ranking of `inputs` at fingerprint `at` (just taken with `fingerprint`): from the
    cache, or ranked now and kept if it is settled. `session` must be in the zone context."""
    cache = cache or cache_of()
    entry = cache.get(inputs, at)
    if entry is not None:
        return entry
    result = ranking.rank(
        session,
        period=inputs.period,
        industry=inputs.industry,
        enterprise_type=EnterpriseType(inputs.enterprise_type) if inputs.enterprise_type else None,
    )
    # settled only if nothing the ranking read moved while it read: its weights are the
    # fingerprint's (exact values, so a change and its undoing cannot fool this) and the rows'
    # fingerprint is unchanged after it (their sums only move, never come back)
    settled = tuple(result.weights[i] for i in Indicator) == at.weights and (
        fingerprint(session, inputs.period) == at
    )
    entry = Entry(at if settled else None, result)
    if settled:
        cache.put(inputs, entry)
    return entry


def zone_ranking_for_branch(new_session: Callable[[], Session], period: str) -> Entry:
    """The zone's unfiltered ranking of `period`, for a caller in a branch's context: read in a
    zone-context session of its own (`new_session`), rolled back; the caller lets only
    aggregates and the branch's own entry leave it (the standing API and the branch's home)."""
    from tenants.context import Context
    from tenants.isolation import bind_context

    session = new_session()
    try:
        bind_context(session, Context.zone())
        return ranked(session, Inputs.of(period), fingerprint(session, period))
    finally:
        session.rollback()
        session.close()
