"""The relay's wake-up call on PostgreSQL: a connection that LISTENs to the outbox channel, so
the relay moves a committed write's work within milliseconds rather than at its next poll
(issue 5, B2). On SQLite, or while PostgreSQL cannot be reached, the relay just polls."""

from __future__ import annotations

import contextlib
import logging
import time

import psycopg
from sqlalchemy.engine import make_url

from workers.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class OutboxListener:
    """Waits for the outbox channel's notifications, or for `timeout`, whichever comes first."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._conninfo = (
            url.set(drivername="postgresql").render_as_string(hide_password=False)
            if url.get_backend_name() == "postgresql"
            else None
        )
        self._connection: psycopg.Connection | None = None

    def wait(self, timeout: float) -> bool:
        """Block until a transaction that recorded work commits (True) or `timeout` passes
        (False; also when it cannot listen: then it simply sleeps)."""
        connection = self._connect()
        if connection is None:
            time.sleep(timeout)
            return False
        try:
            woken = any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
            # the others queued meanwhile are served by the same relay pass
            while any(True for _ in connection.notifies(timeout=0, stop_after=1)):
                pass
            return woken
        except psycopg.Error as error:
            log.warning("outbox listener lost its connection (%s); polling", error)
            self.close()
            time.sleep(timeout)
            return False

    def _connect(self) -> psycopg.Connection | None:
        if self._conninfo is None:
            return None
        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            self._connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as error:
            log.warning("outbox listener cannot connect (%s); polling", error)
            self.close()
        return self._connection

    def close(self) -> None:
        """Drop the connection (the next `wait` connects again)."""
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
        self._connection = None
