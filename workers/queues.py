"""Queues named by purpose. Connections are made when asked for, never at import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workers.connection import redis_connection

if TYPE_CHECKING:
    import redis
    from rq import Queue

ROLLUPS = "rollups"  # zone read models recomputed after writes and nightly
DEFAULT = "default"  # housekeeping and everything else
NOTIFICATIONS = "notifications"  # messages to people
# the order a worker takes them in
QUEUE_NAMES = (ROLLUPS, DEFAULT, NOTIFICATIONS)


def queues(url: str, connection: redis.Redis | None = None) -> dict[str, Queue]:
    """The rq queues at Redis `url`, by name, sharing one connection."""
    from rq import Queue

    connection = connection or redis_connection(url)
    return {name: Queue(name, connection=connection) for name in QUEUE_NAMES}


def queue(url: str, name: str, connection: redis.Redis | None = None) -> Queue:
    """One queue by name; an unknown name is an error, not a new queue nobody works."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUE_NAMES)}")
    return queues(url, connection)[name]
