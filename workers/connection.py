"""Connections to Redis, made when needed (never at import)."""

from __future__ import annotations

import redis


def redis_connection(url: str) -> redis.Redis:
    """A Redis client for `url` with short timeouts, so an outage fails fast."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def redis_ping(url: str) -> bool:
    """Whether Redis at `url` answers."""
    try:
        client = redis_connection(url)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False
