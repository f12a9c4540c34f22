"""The fuzzers' world: branches A and B filled through every creating operation of the branch
space, with bodies generated from the OpenAPI document; the callers; and the checks every
request gets (no 5xx, the one error shape, a refused request writes nothing, a write that
changes audited data leaves an audit event naming its object).

Objects are found, not listed: a path parameter takes the ids of the objects created (or listed)
in the collection before it (`.../activities/{activity_id}` → what `POST .../activities`
returned), falling back to the collection its name names (`{member_id}` → `.../members`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.auth.permissions import PERMISSIONS
from service.auth.roles import Role
from tests.robustness.database import AUDIT_TABLES, OwnerDatabase, audited_tables
from tests.robustness.openapi import (
    HINTS,
    TENANT_PREFIX,
    ZONE_PREFIX,
    Body,
    Operation,
    Values,
    collection_of,
    fill,
    make_body,
    operations,
    singular,
)
from tests.robustness.stats import FINDINGS, LONG, STATS

ERROR_KEYS = {"code", "status", "message"}
MAX_REPAIRS = 4
MAX_COMBOS = 200
MAX_CANDIDATES = 60 if LONG else 12  # objects tried (and probed) per path parameter
CREATED_PER_OPERATION = 4 if LONG else 2  # parent combinations a creating operation is used on
# under service.auth.current's 300 s: an API token is used again before its use is recorded
TOKEN_USE_RECORD_SECONDS = 240
DEBUG = bool(os.environ.get("PMSC_FUZZ_DEBUG"))  # print every request and answer


@dataclass
class Agent:
    """A caller with a bearer token, and the roles the permission table should see for it."""

    name: str
    token: str
    zone: frozenset[Role] = frozenset()
    branches: dict[str, frozenset[Role]] = field(default_factory=dict)
    used_at: float = 0.0  # an API token's last use (its use is recorded every 5 minutes)

    def roles_in(self, slug: str) -> frozenset[Role]:
        return self.branches.get(slug, frozenset())


@dataclass
class Obj:
    """An object the world made or found: its JSON, its collection (a template) and the path
    values above it; `owner` is its branch's slug, None for zone-level objects."""

    item: dict
    owner: str | None
    collection: str
    parents: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.item.get("id", ""))

    def value_for(self, param: str) -> str:
        """What this object puts in `{param}`: the field of that name, else its id."""
        return str(self.item.get(param, self.item.get("id")))


@dataclass
class Sent:
    """A request and its answer."""

    agent: str
    method: str
    path: str
    body: Any
    status: int
    text: str
    json: Any
    headers: Mapping[str, str]

    @property
    def line(self) -> str:
        return f"{self.agent}: {self.method} {self.path} → {self.status}"


def is_error_shape(sent: Sent) -> bool:
    body = sent.json
    return (
        isinstance(body, dict)
        and ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}
        and body["code"] == sent.status
        and isinstance(body["message"], str)
        and bool(body["message"].strip())
    )


# what the document cannot say: state an operation needs that only another request makes
def _zone_activity_held(world: World, combo: Mapping[str, Obj]) -> None:
    """Attendance at a zone activity is recorded once the committee marks it held."""
    activity = combo["activity_id"]
    path = f"{ZONE_PREFIX}/activities/{activity.value_for('activity_id')}"
    read = world.send(world.zone_admin, "GET", path)
    if read.json and read.json.get("status") != "held":
        world.legit_write(
            world.zone_admin,
            "PATCH",
            path,
            {"status": "held"},
            owner=None,
            headers={"If-Match": read.headers.get("ETag", "")},
            object_id=activity.value_for("activity_id"),
        )


LESSONS: dict[tuple[str, str], Callable[[World, Mapping[str, Obj]], None]] = {
    (
        "PUT",
        TENANT_PREFIX + "/zone-activities/{activity_id}/registrations/{registration_id}",
    ): _zone_activity_held,
}


class World:
    """Branches A and B, the zone, the callers and what they made; `problems` collects every
    broken invariant (a 5xx, a leak, a refused request that wrote, a write without audit)."""

    def __init__(self, app, issuer, app_env: Mapping[str, str], make_tenant, make_user) -> None:
        self.client = app.test_client()
        self.db = OwnerDatabase(app_env)
        self.audited = audited_tables()
        self.ops = operations(app, self.client)
        self.by_key = {op.key: op for op in self.ops}
        self.collections = {op.collection for op in self.ops}
        self.a = make_tenant()
        self.b = make_tenant()
        self.slugs = {"A": self.a.slug, "B": self.b.slug}
        self.users = [make_user() for _ in range(3)]  # accounts exist once people sign in
        tag = uuid.uuid4().hex[:6]
        self.values = {
            owner: Values(f"{sign}{tag}", unusual=LONG)
            for owner, sign in (("A", "甲"), ("B", "乙"), (None, "区"))
        }
        self.probe_values = Values(f"探{tag}")  # bodies of probes: no branch's marker

        def agent(name: str, groups: list[str], **roles) -> Agent:
            return Agent(name, issuer.token(groups, lifetime=3600), **roles)

        self.zone_admin = agent(
            "zone admin", ["pmsc:zone:admin"], zone=frozenset({Role.ZONE_ADMIN})
        )
        self.zone_viewer = agent(
            "zone viewer", ["pmsc:zone:viewer"], zone=frozenset({Role.ZONE_VIEWER})
        )
        self.admin: dict[str, Agent] = {}
        self.member: dict[str, Agent] = {}
        for key, slug in self.slugs.items():
            self.admin[key] = agent(
                f"{key} admin",
                [f"pmsc:branch:{slug}:admin"],
                branches={slug: frozenset({Role.BRANCH_ADMIN})},
            )
            self.member[key] = agent(
                f"{key} member",
                [f"pmsc:branch:{slug}:member"],
                branches={slug: frozenset({Role.BRANCH_MEMBER})},
            )
        self.tokens: dict[tuple[str, str], Agent] = {}  # (owner, scope) → the API token
        self.registry: dict[str, list[Obj]] = {}
        self.exercised: dict[tuple[str, str], int] = {}  # legitimate successes per operation
        self.good: dict[tuple[str, str], Any] = {}  # a body each operation accepted
        self.good_combo: dict[tuple[str, str], tuple[str | None, dict[str, Obj]]] = {}
        self.good_combo_of: dict[tuple[tuple[str, str], str | None], dict[str, Obj]] = {}
        # the generated body (after repairs) that worked, and the enum values it needed
        self.good_body: dict[tuple[str, str], tuple[Body | None, dict[str, Any]]] = {}
        self.unexercised_reasons: dict[tuple[str, str], str] = {}
        self.problems: list[str] = []
        self.writes_audited = 0
        self.personal_values: set[str] = set()  # phones and ID-card numbers sent in clear

    # --- sending ----------------------------------------------------------------------------

    def send(
        self,
        agent: Agent | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        content_type: str | None = None,
        query_string: Mapping[str, str] | None = None,
    ) -> Sent:
        """One request; a 5xx is recorded as a problem."""
        all_headers = dict(headers or {})
        if agent is not None:
            all_headers["Authorization"] = f"Bearer {agent.token}"
            if agent.token.startswith("pmsct_"):
                agent.used_at = time.monotonic()
        kwargs: dict[str, Any] = {"headers": all_headers, "query_string": query_string}
        if data is not None:
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        elif body is not None:
            kwargs["json"] = body
        STATS["requests sent"] += 1
        name = agent.name if agent else "anonymous"
        try:
            response = self.client.open(path, method=method, **kwargs)
        except Exception as error:  # in testing, Flask raises what would be a 500
            sent = Sent(name, method, path, body, 500, repr(error), None, {})
            self.problem("5xx", f"{sent.line} {error!r}")
            return sent
        text = response.get_data(as_text=True)
        sent = Sent(
            name,
            method,
            path,
            body,
            response.status_code,
            text,
            response.get_json(silent=True),
            response.headers,
        )
        if DEBUG:
            print(sent.line, text[:150] if sent.status >= 400 else "")
        if response.status_code >= 500:
            self.problem("5xx", f"{sent.line} {text[:200]}")
        elif response.status_code >= 400 and not is_error_shape(sent):
            self.problem("shape", f"{sent.line}: not the one error shape: {text[:200]}")
        return sent

    def problem(self, kind: str, line: str) -> None:
        self.problems.append(f"{kind}: {line}")
        if kind == "5xx":
            STATS["5xx found"] += 1
            FINDINGS.append(f"5xx {line}")
        elif kind == "leak":
            STATS["leaks found"] += 1
            FINDINGS.append(f"leak {line}")

    def legit_write(
        self,
        agent: Agent,
        method: str,
        path: str,
        body: Any,
        *,
        owner: str | None,
        headers: Mapping[str, str] | None = None,
        object_id: str | None = None,
    ) -> Sent:
        """A write by a caller allowed to make it: if it changed audited data, the audit log
        of its space has a new event naming the object (`object_id`, or the id the answer
        carries); if it was refused, nothing changed."""
        before = self.db.fingerprint()
        events_before = self.db.audit_counts()
        sent = self.send(agent, method, path, body, headers=headers)
        after = self.db.fingerprint()
        changed = {t for t in after if after[t] != before.get(t)}
        if sent.status >= 400:
            if changed:
                self.problem("wrote", f"{sent.line}: a refused write changed {sorted(changed)}")
            return sent
        if not changed & (self.audited - AUDIT_TABLES):
            return sent
        scope = str(self.tenant_of(owner).id) if owner else "zone"
        new = self.db.newest_audit_events(events_before)
        # the object, by the id the API shows for it (an attendance record has none: its
        # events are found by their branch only)
        named = (
            {str(sent.json["id"])} if isinstance(sent.json, dict) and "id" in sent.json else set()
        )
        if method in ("PATCH", "DELETE") and object_id:
            named.add(object_id)
        # a branch's write lands in its own log; a zone write in the zone's, or in the log of
        # the branch whose object it changed (a grant the committee makes in a branch)
        mine = [e for e in new if e[0] == scope or (owner is None and e[0] != "zone")]
        if not mine or (named and not any(n in e[2] for e in mine for n in named)):
            self.problem(
                "audit",
                f"{sent.line}: changed {sorted(changed)} but the {scope} audit log has no "
                f"event naming {sorted(named)} (new events: {[e[:2] for e in new]})",
            )
        else:
            self.writes_audited += 1
            STATS["writes audited"] += 1
        return sent

    def tenant_of(self, owner: str):
        return {"A": self.a, "B": self.b}[owner]

    # --- objects ----------------------------------------------------------------------------

    def record(self, obj: Obj) -> None:
        self.registry.setdefault(obj.collection, []).append(obj)

    def objects(self, collection: str, owner: str | None) -> list[Obj]:
        """The collection's objects the owner may name, newest first (variants, the unusual
        states, come after the first object of each creating operation)."""
        objs = self.registry.get(collection, [])
        return [o for o in reversed(objs) if o.owner in (owner, None)]

    def discover(self, collection: str, owner: str | None, parents: Mapping[str, str]) -> list[Obj]:
        """The items a list operation at `collection` shows (as the owner's admin), recorded
        as zone-level objects: the world did not make them in this branch."""
        op = self.by_key.get(("GET", collection))
        if op is None or op.targets_item:
            return []
        agent = self.admin[owner] if owner else self.zone_admin
        path = fill(collection, self.slugs.get(owner), parents)
        sent = self.send(agent, "GET", path + "?page_size=100")
        if sent.status != 200 or not isinstance(sent.json, list):
            return []
        found = []
        known = {o.id: o for objs in self.registry.values() for o in objs if o.id}
        here = {o.id for o in self.registry.get(collection, [])}
        for item in sent.json:
            if not isinstance(item, dict) or "id" not in item:
                continue
            mine = known.get(str(item["id"]))
            if mine is not None and mine.owner not in (owner, None):
                self.problem("leak", f"{sent.line}: lists {mine.owner}'s object {mine.id}")
                continue
            if str(item["id"]) in here:
                continue
            obj = Obj(item, mine.owner if mine else None, collection, dict(parents))
            self.record(obj)
            found.append(obj)
        return found

    def references(self, stem: str, owner: str | None, space: str) -> list[Obj]:
        """Objects a `<stem>_id` field or parameter may name: those of the collection whose
        last segment names `stem`, in the operation's own space first."""
        prefixes = [TENANT_PREFIX, ZONE_PREFIX] if space == "tenant" else [ZONE_PREFIX]
        for prefix in prefixes:
            for collection in sorted(self.collections):
                rest = collection[len(prefix) :]
                if not collection.startswith(prefix + "/") or "{" in rest:
                    continue
                if singular(rest.rsplit("/", 1)[-1]) != stem:
                    continue
                objs = self.objects(collection, owner if prefix == TENANT_PREFIX else None)
                if not objs:
                    objs = self.discover(collection, owner if prefix == TENANT_PREFIX else None, {})
                if objs:
                    return objs
        return []

    def candidates(
        self, op: Operation, param: str, owner: str | None, chosen: Mapping[str, Obj]
    ) -> list[Obj]:
        collection = collection_of(op.template, param)
        parents = {k: v.value_for(k) for k, v in chosen.items()}

        def fits(o: Obj) -> bool:
            return all(parents.get(k) == v for k, v in o.parents.items())

        objs = [o for o in self.objects(collection, owner) if fits(o)]
        if not objs:
            objs = self.discover(collection, owner, parents)
        if not objs and param.endswith("_id"):
            objs = self.references(param[: -len("_id")], owner, op.space)
        if not objs and param in HINTS:
            objs = [Obj({param: HINTS[param](self.values[owner])}, None, collection, parents)]
        return objs

    def combos(self, op: Operation, owner: str | None) -> list[dict[str, Obj]]:
        """Combinations of objects for the operation's path parameters; the outermost
        parameter varies fastest, so the first few try different parents."""
        params = op.params
        found: list[tuple[tuple[int, ...], dict[str, Obj]]] = []

        def walk(i: int, chosen: dict[str, Obj], indices: tuple[int, ...]) -> None:
            if len(found) >= MAX_COMBOS:
                return
            if i == len(params):
                found.append((indices, dict(chosen)))
                return
            options = self.candidates(op, params[i], owner, chosen)[:MAX_CANDIDATES]
            for n, obj in enumerate(options):
                chosen[params[i]] = obj
                walk(i + 1, chosen, (*indices, n))
                del chosen[params[i]]

        walk(0, {}, ())
        found.sort(key=lambda f: tuple(reversed(f[0])))
        return [combo for _, combo in found]

    def path(self, op: Operation, owner: str | None, combo: Mapping[str, Obj]) -> str:
        return fill(
            op.template, self.slugs.get(owner), {k: v.value_for(k) for k, v in combo.items()}
        )

    def body_for(
        self, op: Operation, owner: str | None, values: Values | None = None
    ) -> Body | None:
        if op.body is None:
            return None
        return make_body(
            op.body,
            values or self.values[owner],
            lambda stem: [o.id for o in self.references(stem, owner, op.space)],
            partial=op.method == "PATCH",
        )

    def etag(self, agent: Agent, op: Operation, path: str) -> dict[str, str]:
        if not op.if_match:
            return {}
        read = self.send(agent, "GET", path)
        return {"If-Match": read.headers.get("ETag", "")}

    # --- legitimate use ---------------------------------------------------------------------

    def use(
        self,
        op: Operation,
        owner: str | None,
        *,
        limit: int = 1,
        variants: bool = False,
        copies: int = 1,
        lessons: bool = True,
    ) -> int:
        """Send `op` as the owner's admin (the zone admin for the zone) on up to `limit`
        combinations of objects, repairing bodies a 422 refuses; every success is recorded
        (created objects, the body that worked). Returns how many succeeded."""
        agent = self.admin[owner] if owner else self.zone_admin
        successes = 0
        combos = self.combos(op, owner)
        lesson = LESSONS.get(op.key) if lessons else None
        if lesson is not None:
            # a lesson changes state other operations need: as little as possible, and only
            # when no object is in the state it makes already
            limit = 1
            if self.use(op, owner, variants=variants, copies=copies, lessons=False):
                return 1
        if not combos:
            self.unexercised_reasons.setdefault(op.key, "no objects for its path parameters")
        for combo in combos:
            if lesson is not None:
                lesson(self, combo)
            path = self.path(op, owner, combo)
            body = self.body_for(op, owner)
            if op.body is not None and body is None:
                self.unexercised_reasons[op.key] = "a required reference has no object"
                return successes
            sent = None
            for _ in range(MAX_REPAIRS):
                payload = body.render() if body else None
                sent = self.attempt(agent, op, owner, path, payload)
                if sent.status < 400 or sent.status != 422 or body is None:
                    break
                if not body.repair((sent.json or {}).get("errors", {})):
                    break
            if sent is not None and sent.status < 400:
                successes += 1
                self.succeeded(op, owner, combo, sent)
                self.good_body.setdefault(op.key, (body, {}))
            elif sent is not None:
                reason = f"{sent.line}: {(sent.json or {}).get('message')}"
                self.unexercised_reasons.setdefault(op.key, reason)
            if body is not None and ((variants and successes == 1) or successes == 0):
                # the other enum values: more objects, and a way past a refused first value
                for changed, variant in body.variants(every=LONG):
                    extra = self.attempt(agent, op, owner, path, variant)
                    if extra.status < 400:
                        self.succeeded(op, owner, combo, extra)
                        self.good_body.setdefault(op.key, (body, changed))
                        successes = max(successes, 1)
                        if not variants:
                            break
            for _ in range(copies - 1 if sent is not None and sent.status < 400 else 0):
                again = self.attempt(agent, op, owner, path, body.render() if body else None)
                if again.status < 400:
                    self.succeeded(op, owner, combo, again)
            if successes >= limit:
                break
        return successes

    def attempt(
        self, agent: Agent, op: Operation, owner: str | None, path: str, payload: Any
    ) -> Sent:
        if op.method == "GET":
            return self.send(agent, "GET", path)
        self.note_personal(payload)
        last = path.rsplit("/", 1)[-1] if op.targets_item else None
        return self.legit_write(
            agent,
            op.method,
            path,
            payload,
            owner=owner,
            headers=self.etag(agent, op, path),
            object_id=last,
        )

    def succeeded(
        self, op: Operation, owner: str | None, combo: Mapping[str, Obj], sent: Sent
    ) -> None:
        self.exercised[op.key] = self.exercised.get(op.key, 0) + 1
        self.unexercised_reasons.pop(op.key, None)
        self.good.setdefault(op.key, sent.body)
        self.good_combo.setdefault(op.key, (owner, dict(combo)))
        self.good_combo_of[op.key, owner] = dict(combo)
        parents = {k: v.value_for(k) for k, v in combo.items()}
        if op.method == "POST" and isinstance(sent.json, dict) and "id" in sent.json:
            self.record(Obj(sent.json, owner, op.collection, parents))
            if "secret" in sent.json and owner:
                self.add_token(owner, sent.json)
        elif op.method == "PUT" and op.targets_item and isinstance(sent.json, dict):
            last = op.params[-1]
            item = {**sent.json, last: parents[last]}
            known = {o.value_for(last) for o in self.registry.get(op.collection, [])}
            if parents[last] not in known:
                self.record(
                    Obj(item, owner, op.collection, {k: v for k, v in parents.items() if k != last})
                )
        elif op.method == "DELETE" and op.targets_item:
            last = combo[op.params[-1]]
            objs = self.registry.get(last.collection, [])
            if last in objs:
                objs.remove(last)

    def add_token(self, owner: str, made: Mapping[str, Any]) -> None:
        scope = str(made.get("scope"))
        role = Role.TOKEN_READ_WRITE if scope == "read-write" else Role.TOKEN_READ
        slug = self.slugs[owner]
        token = Agent(f"{owner} token {scope}", made["secret"], branches={slug: frozenset({role})})
        self.tokens.setdefault((owner, scope), token)

    def keep_token_warm(self, token: Agent, owner: str) -> None:
        """Use the token in its own branch now and then, so recording its use (every 5
        minutes) never lands inside a probe that must write nothing."""
        if time.monotonic() - token.used_at > TOKEN_USE_RECORD_SECONDS:
            read = next(op for op in self.ops if op.method == "GET" and op.space == "tenant")
            self.send(token, "GET", fill(read.template, self.slugs[owner], {}))

    def note_personal(self, payload: Any) -> None:
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            if isinstance(item, dict):
                for name in ("phone", "id_card_number"):
                    if isinstance(item.get(name), str):
                        self.personal_values.add(item[name])

    # --- building -----------------------------------------------------------------------------

    def build(self) -> None:
        """The zone's objects, then A's and B's through every creating operation of the branch
        space (until no more can be made), then every other operation used once in B."""
        self.create(("A", "B"))
        # reads and changes, then deletions, innermost objects first (a member's deletion
        # takes its registrations with it)
        for op in self.ops:
            if op.space == "tenant" and op.method in ("GET", "PATCH"):
                self.use(op, "B")
        deletions = [op for op in self.ops if op.space == "tenant" and op.method == "DELETE"]
        for op in sorted(deletions, key=lambda op: -len(op.params)):
            self.use(op, "B")

    def create(self, owners: tuple[str, ...]) -> None:
        """The zone's objects (every zone creating operation without path parameters), then
        the owners' through every creating operation of the branch space, in rounds until no
        more can be made (an attendance needs a member and an activity first)."""
        for op in self.ops:
            if op.space == "zone" and op.method == "POST" and not op.params:
                self.use(op, None, variants=True, copies=CREATED_PER_OPERATION)
        creating = [op for op in self.ops if op.space == "tenant" and op.method in ("POST", "PUT")]
        pending = {(op.key, owner) for op in creating for owner in owners}
        progress = True
        while pending and progress:
            progress = False
            for op in creating:
                for owner in owners:
                    if (op.key, owner) in pending and self.use(
                        op,
                        owner,
                        limit=CREATED_PER_OPERATION,
                        variants=True,
                        copies=CREATED_PER_OPERATION,
                    ):
                        pending.discard((op.key, owner))
                        progress = True
        for (owner, _scope), token in self.tokens.items():
            self.keep_token_warm(token, owner)

    def prepare_every_operation(self, owner: str) -> None:
        """Every operation but deletions used once with a valid request: the branch's in
        `owner`'s space, the zone's as the zone admin (`good` and `good_combo` then hold a
        request each accepted)."""
        self.create((owner,))
        for op in self.ops:
            if op.method in ("DELETE",) or op.key in self.good:
                continue
            if op.space == "tenant":
                self.use(op, owner)
            elif op.space == "zone":
                self.use(op, None)

    def a_ids(self) -> set[str]:
        return {o.id for objs in self.registry.values() for o in objs if o.owner == "A" and o.id}

    def leaked(self, sent: Sent, owner: str = "A") -> list[str]:
        """What of `owner`'s data the answer shows that the request did not itself carry."""
        asked = sent.path + json.dumps(sent.body, ensure_ascii=False, default=str)
        marker = self.values[owner].marker
        found = [x for x in self.a_ids() if x in sent.text and x not in asked]
        if marker in sent.text and marker not in asked:
            found.append(f"text marked {marker}")
        return found


def expected_status(agent: Agent, op: Operation, slug: str, foreign_object: bool) -> int:
    """What the permission table says `agent` gets for `op` in branch `slug`'s space, where the
    path names another branch's object when `foreign_object`."""
    if agent.zone and not agent.roles_in(slug):
        return 403  # zone roles see aggregates, never a branch's records
    roles = agent.roles_in(slug)
    if not roles:
        return 404  # another branch's space is not disclosed
    if not roles & PERMISSIONS[op.action]:
        return 403
    return 404 if foreign_object else op.success
