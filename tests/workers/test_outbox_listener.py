"""The relay's wake-up call: on PostgreSQL a transaction that records work notifies the outbox
channel at commit, and the worker's listener wakes on it; nothing wakes it on a rollback; on
SQLite, or without its connection, it falls back to polling."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from service.database import db
from tenants.context import Context
from tenants.isolation import bind_context
from workers import outbox
from workers.outbox_listener import OutboxListener

LONG = 30.0  # a bound the test never reaches when the wake-up works


def _record(app, *, commit: bool) -> None:
    with app.app_context():
        session = db.new_session()
        try:
            bind_context(session, Context.system())
            outbox.record(session, job="listener-probe", payload={"n": 1})
            session.flush()
            session.commit() if commit else session.rollback()
        finally:
            session.close()


def _wait_in_thread(listener: OutboxListener, timeout: float) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(listener.wait(timeout)))
    thread.start()
    return thread, result


@pytest.fixture
def listener(app_env, backend):
    found = OutboxListener(app_env["PMSC_DATABASE_URL"])
    yield found
    found.close()


def test_a_commit_that_records_work_wakes_the_listener(app, backend, listener):
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    assert listener.wait(0.01) is False  # connected and listening, nothing yet
    thread, result = _wait_in_thread(listener, LONG)
    _record(app, commit=True)
    thread.join(LONG + 5)
    assert result == [True]


def test_a_rolled_back_recording_does_not_wake_the_listener(app, backend, listener):
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    assert listener.wait(0.01) is False
    _record(app, commit=False)
    assert listener.wait(0.5) is False


def test_the_listener_listens_again_after_losing_its_connection(app, app_env, backend, listener):
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    assert listener.wait(0.01) is False
    from sqlalchemy import create_engine

    admin = create_engine(app_env["PMSC_ADMIN_DATABASE_URL"])
    with admin.begin() as connection:
        ended = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %' AND datname = current_database()) AS t"
            )
        ).scalar()
    admin.dispose()
    assert ended == 1
    assert listener.wait(0.2) is False  # the lost connection is noticed, not raised
    assert listener.wait(0.01) is False  # connected and listening again
    thread, result = _wait_in_thread(listener, LONG)
    _record(app, commit=True)
    thread.join(LONG + 5)
    assert result == [True]


def test_on_sqlite_the_listener_only_waits(app, backend, listener):
    if backend != "sqlite":
        pytest.skip("the SQLite fallback")
    _record(app, commit=True)
    assert listener.wait(0.05) is False
