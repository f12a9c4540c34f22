"""Tenant isolation, fuzzed from the OpenAPI document (no hand-written list of endpoints).

Branches A and B are filled through every creating operation of the branch space, with bodies
generated from the document's schemas (see `tests.robustness.world`). Then every operation of
the branch space is sent for A's objects by callers that must not reach them:

* on A's paths: B's admin and B's member (404: A's space is not disclosed), a zone viewer (403:
  zone roles see aggregates, not records);
* on B's paths naming A's objects: B's admin and member (404, or 403 where their role does not
  allow the action), the zone viewer (403), and A's own API tokens (404: a token is one branch's);
* writes in B whose body names A's objects (a party group, a member): refused (4xx);
* every list and summary of B, as B's admin and member, with A's ids and A's text as filters.

No answer may carry A's data (A's ids it was not asked about, A's text), no probe may change the
database (a fingerprint of every table, before and after), and no request is a 5xx. An operation
added later is covered without code changes: the test fails naming any branch-space operation it
could not use or probe. The same run checks item 7's data at rest: every write the fuzzer made is
in the audit log, and ID-card numbers and phones are nowhere in the database in clear.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from service.auth.permissions import PERMISSIONS
from tests.makers import account_maker, branch_maker
from tests.robustness.openapi import Operation, fill, reference_stem
from tests.robustness.stats import LONG, STATS
from tests.robustness.world import World, expected_status

# combinations of A's objects probed per operation: every object (up to the world's limit of
# candidates per path parameter) for every operation on it; the long mode makes more of them
PROBED_READS = PROBED_WRITES = 50 if LONG else 12


@dataclass
class Report:
    """What the probes found, per operation."""

    probes: dict[tuple[str, str], int] = field(default_factory=dict)
    objects: set[str] = field(default_factory=set)
    mismatches: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    wrote: list[str] = field(default_factory=list)
    unprobed: dict[tuple[str, str], str] = field(default_factory=dict)

    def count(self, op: Operation) -> None:
        self.probes[op.key] = self.probes.get(op.key, 0) + 1


@pytest.fixture(scope="module")
def fuzzed(app, app_env, issuer) -> Iterator[tuple[World, Report]]:
    """The world, built, and every probe sent (once per backend)."""
    world = World(
        app,
        issuer,
        app_env,
        branch_maker(app, prefix="z", name="模糊测试党支部"),
        account_maker(app, prefix="fuzz"),
    )
    try:
        world.build()
        report = Report()
        for op in world.ops:
            if op.space == "tenant":
                _probe(world, report, op)
                _probe_lists_of_b(world, report, op)
        _probe_zone_space_as_viewer(world, report)
        _check_a_unchanged_by_b(world, report)
        tenant_ops = [op for op in world.ops if op.space == "tenant"]
        fuzzed_ops = sum(1 for op in tenant_ops if report.probes.get(op.key))
        STATS["operations fuzzed"] = max(STATS["operations fuzzed"], fuzzed_ops)
        STATS["objects probed across tenants"] += len(report.objects)
        yield world, report
    finally:
        world.db.close()


def _check(world: World, report: Report, op: Operation, sent, expected: set[int]) -> None:
    report.count(op)
    if sent.status not in expected:
        report.mismatches.append(
            f"{sent.line}, want {sorted(expected)}: {(sent.json or {}).get('message', '')}"
        )
    leaked = world.leaked(sent)
    if leaked:
        report.leaks.append(f"{sent.line}: shows A's {leaked[:3]}")
        world.problem("leak", f"{sent.line}: shows A's {leaked[:3]}")


def _guarded(world: World, report: Report, label: str):
    """Around a batch of probes: the database must be exactly as before."""

    class Guard:
        def __enter__(self):
            for (owner, _scope), token in world.tokens.items():
                world.keep_token_warm(token, owner)
            self.before = world.db.state()

        def __exit__(self, *exc):
            changed = world.db.changed_tables(self.before, world.db.state())
            if changed:
                report.wrote.append(f"{label}: changed {changed}")
                world.problem("wrote", f"{label}: changed {changed}")

    return Guard()


def _probe(world: World, report: Report, op: Operation) -> None:
    """`op` for A's objects: on A's paths by outsiders, on B's paths by B and A's tokens."""
    combos = world.combos(op, "A")[: PROBED_WRITES if op.is_write else PROBED_READS]
    if not combos:
        report.unprobed[op.key] = "no combination of A's objects for its path"
        return
    a_slug, b_slug = world.slugs["A"], world.slugs["B"]
    outsiders = [world.admin["B"], world.member["B"], world.zone_viewer]
    tokens = [t for (owner, _s), t in sorted(world.tokens.items()) if owner == "A"]
    if not LONG:
        tokens = [t for t in tokens if "read-write" in t.name] or tokens[:1]
    for combo in combos:
        a_objects = [o for o in combo.values() if o.owner == "A"]
        report.objects |= {o.id or o.value_for(k) for k, o in combo.items() if o.owner == "A"}
        body = world.body_for(op, "A", world.probe_values)
        payload = body.render() if body else None
        a_path = world.path(op, "A", combo)
        b_path = world.path(op, "B", combo)
        headers = world.etag(world.admin["A"], op, a_path)
        with _guarded(world, report, f"{op.label} for A's objects"):
            for agent in outsiders:
                want = expected_status(agent, op, a_slug, foreign_object=False)
                sent = world.send(agent, op.method, a_path, payload, headers=headers)
                _check(world, report, op, sent, {want})
            on_b = [*outsiders, *tokens] if a_objects else tokens
            for agent in on_b:
                want = expected_status(agent, op, b_slug, foreign_object=bool(a_objects))
                sent = world.send(agent, op.method, b_path, payload, headers=headers)
                _check(world, report, op, sent, {want})
        if body is not None and body.references() and op.is_write:
            _probe_references_to_a(world, report, op)
    _probe_mixed(world, report, op, combos[0])


def _probe_mixed(world: World, report: Report, op: Operation, a_combo: dict) -> None:
    """B's own objects on the path but the last one A's (B's activity, A's member): 404, or
    the 422 of a rule B's object breaks first; nothing written."""
    last = op.params[-1] if len(op.params) >= 2 else None
    if last is None or a_combo[last].owner != "A":
        return
    b_combo = world.good_combo_of.get((op.key, "B")) or next(iter(world.combos(op, "B")), None)
    if b_combo is None:
        report.unprobed[op.key] = "no combination of B's objects for its path"
        return
    combo = {**b_combo, last: a_combo[last]}
    report.objects.add(a_combo[last].id or a_combo[last].value_for(last))
    body = world.body_for(op, "B", world.probe_values)
    path = world.path(op, "B", combo)
    headers = world.etag(world.admin["B"], op, world.path(op, "B", b_combo))
    with _guarded(world, report, f"{op.label} on B's path to A's {last}"):
        for agent in (world.admin["B"], world.member["B"]):
            want = expected_status(agent, op, world.slugs["B"], foreign_object=True)
            payload = body.render() if body else None
            sent = world.send(agent, op.method, path, payload, headers=headers)
            _check(world, report, op, sent, {404, 422} if want == 404 else {want})


def _probe_references_to_a(world: World, report: Report, op: Operation) -> None:
    """A write in B, on B's objects, whose body names A's objects: refused, nothing written."""
    refs = {}
    body = world.body_for(op, "B", world.probe_values)
    for name, stem in body.references().items():
        a_objs = [o for o in world.references(stem, "A", op.space) if o.owner == "A"]
        if a_objs:
            refs[name] = a_objs[0].id
            report.objects.add(a_objs[0].id)
    if not refs:
        return
    combos = world.combos(op, "B")
    if not combos:
        report.unprobed[op.key] = "no combination of B's objects for its path"
        return
    with _guarded(world, report, f"{op.label} in B naming A's {sorted(refs)}"):
        for agent in (world.admin["B"], world.member["B"]):
            allowed = expected_status(agent, op, world.slugs["B"], foreign_object=True) == 404
            # B's objects in a state that takes the write (a 409 says the state refused)
            for combo in combos[:4]:
                path = world.path(op, "B", combo)
                headers = world.etag(world.admin["B"], op, path)
                sent = world.send(agent, op.method, path, body.render_with(refs), headers=headers)
                if sent.status != 409:
                    break
            _check(world, report, op, sent, {404, 422} if allowed else {403})


def _probe_lists_of_b(world: World, report: Report, op: Operation) -> None:
    """Every read of B's space (lists, summaries) never shows A's data, also when filtered by
    A's ids or A's text."""
    if op.method != "GET":
        return
    combos = world.combos(op, "B")[:PROBED_WRITES]
    a_ids = sorted(world.a_ids())
    for combo in combos:
        path = world.path(op, "B", combo)
        queries: list[dict[str, str]] = [{}]
        for name, schema in op.query:
            stem = reference_stem(name, schema) or (name[:-3] if name.endswith("_id") else None)
            if stem is not None:
                named = [o.id for o in world.references(stem, "A", "tenant") if o.owner == "A"]
                queries += [{name: i} for i in (named or a_ids)[:3]]
            elif schema.get("type") == "string" and not {"enum", "format"} & set(schema):
                queries.append({name: world.values["A"].marker})
        with _guarded(world, report, f"{op.label} in B"):
            for query in queries if op.query else [{}]:
                for agent in (world.admin["B"], world.member["B"]):
                    want = expected_status(agent, op, world.slugs["B"], foreign_object=False)
                    sent = world.send(agent, "GET", path, query_string=query)
                    _check(world, report, op, sent, {want, 422} if query else {want})


def _probe_zone_space_as_viewer(world: World, report: Report) -> None:
    """The zone viewer reads the zone's lists and objects: aggregates, never A's records."""
    for op in world.ops:
        if op.space != "zone" or op.method != "GET":
            continue
        for combo in world.combos(op, None)[:PROBED_WRITES]:
            path = fill(op.template, None, {k: v.value_for(k) for k, v in combo.items()})
            agent = world.zone_viewer
            allowed = op.action is None or bool(agent.zone & PERMISSIONS[op.action])
            sent = world.send(agent, "GET", path)
            _check(world, report, op, sent, {op.success if allowed else 403})


def _check_a_unchanged_by_b(world: World, report: Report) -> None:
    """A's objects read the same as A's admin after all the probes (guarded batches already
    compared the whole database; this reads through the API too)."""
    reads = {op.collection: op for op in world.ops if op.method == "GET" and op.targets_item}
    for objs in list(world.registry.values()):
        for obj in objs:
            get = reads.get(obj.collection)
            if obj.owner != "A" or get is None:
                continue
            last = get.params[-1]
            path = fill(get.template, world.slugs["A"], {**obj.parents, last: obj.value_for(last)})
            read = world.send(world.admin["A"], "GET", path)
            if read.status != 200:
                report.wrote.append(f"A's {obj.collection} {obj.id} reads {read.status}")


# --- the tests --------------------------------------------------------------------------------


def test_every_branch_space_operation_is_used_and_probed(fuzzed):
    world, report = fuzzed
    tenant_ops = [op for op in world.ops if op.space == "tenant"]
    assert len(tenant_ops) >= 30
    missing = {
        op.label: world.unexercised_reasons.get(op.key) or report.unprobed.get(op.key) or "?"
        for op in tenant_ops
        if not world.exercised.get(op.key) or not report.probes.get(op.key)
    }
    assert not missing, (
        "the fuzzer could not use (with a valid generated request) or probe these branch-space "
        "operations; teach it (a HINT, a LESSON) in tests/robustness/:\n"
        + "\n".join(f"{label}: {why}" for label, why in sorted(missing.items()))
    )


def test_the_leak_detector_sees_branch_a_data_in_an_answer(fuzzed):
    """The probes' "never A's data" would pass vacuously if the detector were blind."""
    world, _report = fuzzed
    members = next(op for op in world.ops if op.label == "GET /api/v1/t/{tenant_slug}/members")
    sent = world.send(world.admin["A"], "GET", fill(members.template, world.slugs["A"], {}))
    assert sent.status == 200
    found = world.leaked(sent)
    assert f"text marked {world.values['A'].marker}" in found
    assert any(item["id"] in found for item in sent.json)


def test_every_object_of_branch_a_was_probed(fuzzed):
    world, report = fuzzed
    made = world.a_ids()
    assert len(made) >= 12
    assert made <= report.objects, f"never probed: {sorted(made - report.objects)}"


def test_no_caller_outside_branch_a_gets_what_the_permission_table_denies(fuzzed):
    _world, report = fuzzed
    assert sum(report.probes.values()) > 100
    assert not report.mismatches, "\n".join(report.mismatches[:60])


def test_no_answer_outside_branch_a_shows_branch_a_data(fuzzed):
    _world, report = fuzzed
    assert not report.leaks, "\n".join(report.leaks[:60])


def test_no_probe_of_branch_a_changed_the_database(fuzzed):
    _world, report = fuzzed
    assert not report.wrote, "\n".join(report.wrote[:60])


def test_no_request_of_the_fuzzer_was_a_5xx_or_left_the_error_shape(fuzzed):
    world, _report = fuzzed
    broken = [p for p in world.problems if p.startswith(("5xx", "shape"))]
    assert not broken, "\n".join(broken[:60])


def test_every_write_the_fuzzer_made_is_in_its_space_audit_log(fuzzed):
    world, _report = fuzzed
    assert world.writes_audited > 40
    missing = [p for p in world.problems if p.startswith(("audit", "wrote"))]
    assert not missing, "\n".join(missing[:60])


def test_id_card_numbers_and_phones_are_not_readable_in_the_database(fuzzed):
    world, _report = fuzzed
    personal = world.personal_values
    assert len([v for v in personal if len(v) == 18]) >= 4, personal  # ID-card numbers sent
    assert len([v for v in personal if len(v) == 11]) >= 4, personal  # phones sent
    found = [
        (table, column)
        for table, column, value in world.db.every_value()
        for secret in personal
        if secret in value
    ]
    assert not found, f"personal values in clear in the database: {sorted(set(found))}"
    stored = [v for t, c, v in world.db.every_value() if (t, c) == ("members", "id_card_number")]
    assert stored and all(v.startswith("gAAAAA") for v in stored)  # Fernet tokens
