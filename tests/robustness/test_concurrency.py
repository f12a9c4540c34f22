"""Concurrent writers against a real server: `pmsc serve` (gunicorn, two worker processes with
several threads each) on PostgreSQL, hit by many HTTP requests released together by a barrier,
so their transactions really overlap on separate database connections.

* 50 PATCHes of one object with the same `If-Match`: exactly one 200, the rest 412; the stored
  row is the winner's and its version moved by exactly one (members, activities, party groups,
  branches in the zone register).
* Creating the same unique key at once (a party group's name in one branch, a branch's slug):
  exactly one 201, the rest 409 in the one error shape, one row.
* Bulk attendance PUTs on one activity, each batch different: every one answers 200 and the
  stored record is exactly one of the batches, never a mix; one member's attendance PUT at once
  by many callers is an upsert (all 200), never a 409 from the unique key.

Both backends: SQLite (the embedded default) has one writer at a time, but its transactions
begin at their first write, so a read-then-write races there too.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from tests.api.helpers import tenant_body, worker
from tests.oidc_issuer import TestIssuer
from tests.perf.server import Server, service_server

PATCHERS = 50
ROUNDS = 3  # race windows are narrow: each scenario runs a few times

HELD = {
    "kind": "general-meeting",
    "title": "党员大会",
    "starts_at": "2025-03-01T09:00:00+08:00",
    "ends_at": "2025-03-01T11:00:00+08:00",
    "status": "held",
    "study_hours": 2,
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: object


def call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Answer:
    """One HTTP request; the status, headers and parsed JSON body (4xx and 5xx included)."""
    sent = dict(headers or {})
    data = None
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            raw, status, got = error.read(), error.code, dict(error.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:  # not our error shape: kept as text, so the assertion shows it
        parsed = raw.decode(errors="replace")
    return Answer(status, got, parsed)


def together(count: int, request: Callable[[int], Answer]) -> list[Answer]:
    """Run `request(0..count-1)` in `count` threads released at once by a barrier."""
    barrier = threading.Barrier(count)
    answers: list[Answer | BaseException | None] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = request(index)
        except BaseException as error:  # reported below, not lost in the thread
            answers[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [a for a in answers if not isinstance(a, Answer)]
    assert not failed, failed[:3]
    return answers  # type: ignore[return-value]


def statuses(answers: list[Answer]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for answer in answers:
        counted[answer.status] = counted.get(answer.status, 0) + 1
    return counted


def assert_error_shape(answer: Answer, status: int) -> None:
    assert answer.status == status, answer
    assert isinstance(answer.body, dict), answer
    assert answer.body["code"] == status and answer.body["message"], answer.body


# fixtures


@pytest.fixture(scope="module")
def server(app_env, tmp_path_factory) -> Iterator[Server]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **app_env,
        # 2 workers x 12 threads: two dozen requests in flight, each on its own connection
        "GUNICORN_THREADS": "12",
        "GUNICORN_TIMEOUT": "120",
    }
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    running = service_server(env, workers=2, log=log, name="pmsc serve")
    running.wait_ready("/readyz")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def owner(app_env) -> Iterator:
    """The database as its owner (past row-level security), to read stored rows."""
    engine = create_engine(app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"])
    yield engine
    engine.dispose()


def key(owner, value: str) -> object:
    """A UUID as the backend stores it: SQLite holds 32 hex digits."""
    return uuid.UUID(value).hex if owner.dialect.name == "sqlite" else value


@dataclass
class Branch:
    slug: str
    token: str
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}/api/v1/t/{self.slug}{path}"

    def made(self, path: str, body: object) -> Answer:
        answer = call("POST", self.url(path), token=self.token, body=body)
        assert answer.status == 201, answer
        return answer


@pytest.fixture
def branch(server: Server, make_branch, issuer: TestIssuer) -> Branch:
    tenant = make_branch()
    return Branch(tenant.slug, issuer.token([f"pmsc:branch:{tenant.slug}:admin"]), server.url)


def stored(owner, table: str, row_id: str) -> dict:
    with owner.connect() as connection:
        row = connection.execute(
            text(f"SELECT * FROM {table} WHERE id = :id"),  # our own table names, not input
            {"id": key(owner, row_id)},
        )
        return dict(row.mappings().one())


# (a) the same If-Match, many times at once


def race_patches(url: str, token: str, etag: str, body: Callable[[int], dict]) -> int:
    """PATCH `url` PATCHERS times at once with `If-Match: etag`; the index of the one winner."""
    answers = together(
        PATCHERS,
        lambda i: call("PATCH", url, token=token, body=body(i), headers={"If-Match": etag}),
    )
    assert statuses(answers) == {200: 1, 412: PATCHERS - 1}, statuses(answers)
    for answer in answers:
        if answer.status == 412:
            assert_error_shape(answer, 412)
    [winner] = [i for i, a in enumerate(answers) if a.status == 200]
    assert answers[winner].headers["ETag"] != etag
    return winner


def test_one_of_fifty_member_patches_with_the_same_etag_wins_and_the_rest_are_412(branch, owner):
    for round_ in range(ROUNDS):
        made = branch.made("/members", worker(f"成员{round_}"))
        member_id = made.body["id"]
        before = stored(owner, "members", member_id)["version"]

        def body(i: int) -> dict:
            return {"name": f"改名{i}", "position": f"职务{i}"}

        winner = race_patches(
            branch.url(f"/members/{member_id}"), branch.token, made.headers["ETag"], body
        )
        row = stored(owner, "members", member_id)
        assert (row["name"], row["position"]) == (f"改名{winner}", f"职务{winner}")
        assert row["version"] == before + 1


def test_one_of_fifty_activity_patches_with_the_same_etag_wins_and_the_rest_are_412(branch, owner):
    for _ in range(ROUNDS):
        made = branch.made("/activities", HELD)
        activity_id = made.body["id"]
        before = stored(owner, "activities", activity_id)["version"]

        def body(i: int) -> dict:
            return {"title": f"会议{i}", "place": f"{i}号会议室"}

        winner = race_patches(
            branch.url(f"/activities/{activity_id}"), branch.token, made.headers["ETag"], body
        )
        row = stored(owner, "activities", activity_id)
        assert (row["title"], row["place"]) == (f"会议{winner}", f"{winner}号会议室")
        assert row["version"] == before + 1


def test_one_of_fifty_party_group_renames_with_the_same_etag_wins_and_the_rest_are_412(
    branch, owner
):
    for round_ in range(ROUNDS):
        made = branch.made("/party-groups", {"name": f"第{round_}党小组"})
        group_id = made.body["id"]
        before = stored(owner, "party_groups", group_id)["version"]
        winner = race_patches(
            branch.url(f"/party-groups/{group_id}"),
            branch.token,
            made.headers["ETag"],
            lambda i, round_=round_: {"name": f"小组{round_}-{i}"},
        )
        row = stored(owner, "party_groups", group_id)
        assert row["name"] == f"小组{round_}-{winner}"
        assert row["version"] == before + 1


def test_one_of_fifty_branch_patches_with_the_same_etag_wins_and_the_rest_are_412(
    server, issuer, owner
):
    token = issuer.token(["pmsc:zone:admin"])
    for _ in range(ROUNDS):
        made = call("POST", f"{server.url}/api/v1/zone/tenants", token=token, body=tenant_body())
        assert made.status == 201, made
        before = stored(owner, "tenants", made.body["id"])["version"]
        winner = race_patches(
            f"{server.url}/api/v1/zone/tenants/{made.body['slug']}",
            token,
            made.headers["ETag"],
            lambda i: {"name": f"党支部{i}", "employee_count": 100 + i},
        )
        row = stored(owner, "tenants", made.body["id"])
        assert (row["name"], row["employee_count"]) == (f"党支部{winner}", 100 + winner)
        assert row["version"] == before + 1


# (b) the same unique key, many times at once


def test_a_party_group_name_created_at_once_by_many_is_one_201_and_the_rest_409(branch, owner):
    for round_ in range(ROUNDS):
        name = f"同名党小组{round_}"
        answers = together(
            PATCHERS // 2,
            lambda _i, name=name: call(
                "POST", branch.url("/party-groups"), token=branch.token, body={"name": name}
            ),
        )
        assert statuses(answers) == {201: 1, 409: PATCHERS // 2 - 1}, statuses(answers)
        for answer in answers:
            if answer.status == 409:
                assert_error_shape(answer, 409)
                assert name in answer.body["message"]
        with owner.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM party_groups p JOIN tenants t ON t.id = p.tenant_id"
                    " WHERE t.slug = :slug AND p.name = :name"
                ),
                {"slug": branch.slug, "name": name},
            ).scalar()
        assert count == 1


def test_a_branch_slug_registered_at_once_by_many_is_one_201_and_the_rest_409(
    server, issuer, owner
):
    token = issuer.token(["pmsc:zone:admin"])
    for _ in range(ROUNDS):
        body = tenant_body()
        answers = together(
            PATCHERS // 2,
            lambda _i, body=body: call(
                "POST", f"{server.url}/api/v1/zone/tenants", token=token, body=body
            ),
        )
        assert statuses(answers) == {201: 1, 409: PATCHERS // 2 - 1}, statuses(answers)
        for answer in answers:
            if answer.status == 409:
                assert_error_shape(answer, 409)
                assert body["slug"] in answer.body["message"]
        with owner.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM tenants WHERE slug = :slug"), {"slug": body["slug"]}
            ).scalar()
        assert count == 1


# (c) bulk attendance at once


STATUSES = ("present", "late", "absent", "excused")


def batch(index: int, member_ids: list[str]) -> list[dict]:
    """A batch of its own: statuses shifted by `index`, and every third member (shifted by
    `index` too) left out, so batches differ in members as well as in statuses."""
    items = []
    for position, member_id in enumerate(member_ids):
        if (position + index) % 3 == 0:
            continue
        status = STATUSES[(position + index) % len(STATUSES)]
        item = {"member_id": member_id, "status": status}
        if status == "excused":
            item["reason"] = f"出差{index}"
        items.append(item)
    return items


def as_record(items: list[dict]) -> dict[str, tuple[str, str | None]]:
    return {i["member_id"]: (i["status"], i.get("reason")) for i in items}


def stored_attendance(owner, activity_id: str) -> dict[str, tuple[str, str | None]]:
    with owner.connect() as connection:
        rows = connection.execute(
            text("SELECT member_id, status, reason FROM attendance WHERE activity_id = :a"),
            {"a": key(owner, activity_id)},
        )
        return {str(uuid.UUID(str(r.member_id))): (r.status, r.reason) for r in rows}


def test_bulk_attendance_put_at_once_leaves_exactly_one_whole_batch(branch, owner):
    member_ids = [branch.made("/members", worker(f"到会{n}")).body["id"] for n in range(9)]
    writers = 12
    batches = [batch(index, member_ids) for index in range(writers)]
    assert len({json.dumps(b) for b in batches}) > 3  # distinct batches (they repeat with period)
    for round_ in range(ROUNDS):
        activity_id = branch.made("/activities", HELD).body["id"]
        if round_:  # a record to replace, not only an empty one
            first = call(
                "PUT",
                branch.url(f"/activities/{activity_id}/attendance"),
                token=branch.token,
                body=batches[round_],
            )
            assert first.status == 200, first
        answers = together(
            writers,
            lambda i, activity_id=activity_id: call(
                "PUT",
                branch.url(f"/activities/{activity_id}/attendance"),
                token=branch.token,
                body=batches[i],
            ),
        )
        assert statuses(answers) == {200: writers}, [a for a in answers if a.status != 200][:3]
        final = stored_attendance(owner, activity_id)
        assert final in [as_record(b) for b in batches], final
        # each answer is the record its own batch left
        for index, answer in enumerate(answers):
            shown = {a["member_id"]: (a["status"], a.get("reason")) for a in answer.body}
            assert shown == as_record(batches[index])


def test_one_members_attendance_put_at_once_by_many_is_an_upsert(branch, owner):
    member_id = branch.made("/members", worker("单人")).body["id"]
    for _ in range(ROUNDS):
        activity_id = branch.made("/activities", HELD).body["id"]
        url = branch.url(f"/activities/{activity_id}/attendance/{member_id}")
        answers = together(
            20,
            lambda i, url=url: call(
                "PUT", url, token=branch.token, body={"status": STATUSES[i % 3]}
            ),
        )
        assert statuses(answers) == {200: 20}, [a for a in answers if a.status != 200][:3]
        final = stored_attendance(owner, activity_id)
        assert list(final) == [member_id]
        assert final[member_id][0] in STATUSES[:3]


def test_an_activity_marked_planned_while_attendance_is_put_never_keeps_both(branch, owner):
    """The rule "an activity with attendance stays held" holds between transactions too: the
    PATCH to planned and the attendance PUT cannot both commit."""
    member_ids = [branch.made("/members", worker(f"规则{n}")).body["id"] for n in range(4)]
    items = batch(1, member_ids)
    for _ in range(ROUNDS * 3):
        made = branch.made("/activities", HELD)
        activity_id = made.body["id"]

        def write(i: int, activity_id=activity_id, etag=made.headers["ETag"]) -> Answer:
            if i == 0:
                return call(
                    "PATCH",
                    branch.url(f"/activities/{activity_id}"),
                    token=branch.token,
                    body={"status": "planned"},
                    headers={"If-Match": etag},
                )
            return call(
                "PUT",
                branch.url(f"/activities/{activity_id}/attendance"),
                token=branch.token,
                body=items,
            )

        patched, put = together(2, write)
        assert {patched.status, put.status} in ({200, 422}, {409, 200}), (patched, put)
        status = stored(owner, "activities", activity_id)["status"]
        recorded = stored_attendance(owner, activity_id)
        assert (status, bool(recorded)) in (("planned", False), ("held", True)), (status, recorded)
