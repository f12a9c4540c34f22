"""The database extension: one engine per app, one session (one transaction) per request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker

from tenants.isolation import ZONE_ROLE_KEY, TenantSession
from tenants.rls import DEFAULT_APP_ROLE, zone_role


class DatabaseUnavailable(RuntimeError):
    """The database named by the URL cannot be reached."""


def make_engine(url: str, **options) -> Engine:
    """An engine for `url` with the settings every connection of ours needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            if not folder.is_dir():
                raise DatabaseUnavailable(f"folder {folder} of {safe_url(url)} does not exist")
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # a host that drops packets must fail a readiness probe in seconds, not minutes
    options.setdefault("connect_args", {"connect_timeout": 5})
    options.setdefault("pool_pre_ping", True)
    options.setdefault("pool_size", 5)
    options.setdefault("max_overflow", 10)
    return create_engine(url, **options)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # the composite foreign keys are one of the isolation layers: SQLite must enforce them
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def safe_url(url: str) -> str:
    """`url` without its password, fit for a message or a log line."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """Engine and session factory, kept per app; `db.session` is the current request's session."""

    def init_app(self, app: Flask, url: str, app_role: str = DEFAULT_APP_ROLE) -> None:
        engine = make_engine(url)
        sessions = sessionmaker(
            engine,
            class_=TenantSession,
            expire_on_commit=False,
            info={ZONE_ROLE_KEY: zone_role(app_role)},
        )
        app.extensions["pmsc.database"] = _Bound(engine, sessions)
        app.teardown_appcontext(self._close_session)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["pmsc.database"].engine

    @property
    def session(self) -> TenantSession:
        if "db_session" not in g:
            g.db_session = self.new_session()
        return g.db_session

    def new_session(self) -> TenantSession:
        """A session of its own, for commands and jobs that manage their transaction."""
        return current_app.extensions["pmsc.database"].sessionmaker()

    def _close_session(self, _error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


@dataclass(frozen=True)
class _Bound:
    engine: Engine
    sessionmaker: sessionmaker


db = Database()
