"""Connections to Redis, made when needed (never at import).

`redis` itself is imported on first use too: the web process and every `pmsc` command import
this module (for `/readyz`), and most of them never talk to Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis


def redis_connection(url: str) -> redis.Redis:
    """A Redis client for `url` with short timeouts, so an outage fails fast."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def redis_ping(url: str) -> bool:
    """Whether Redis at `url` answers."""
    import redis

    try:
        client = redis_connection(url)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False
