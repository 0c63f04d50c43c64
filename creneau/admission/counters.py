"""Counters every app process shares: in Redis when `REDIS_URL` is set, in the database
otherwise, and in the database again while Redis does not answer (a limit that falls
back is still a limit; a limit that fails would be a 500 on launch morning).

A counter counts hits on a key within a fixed window of time: window `n` of a key with a
window of `w` seconds covers [n·w, (n+1)·w) seconds since the epoch. Each add is one
atomic operation in either store (Redis INCRBY; one SQL upsert), so two processes
counting at once both count and both see the total.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from django.conf import settings
from django.db import connection

from .models import Counter

log = logging.getLogger(__name__)
T = TypeVar("T")

# After Redis failed to answer, how long the database takes over before Redis is tried
# again: one slow timeout every few seconds, not one per request.
REDIS_RETRY_SECONDS = 5.0
# Each add purges the expired rows of the database store with this probability: the
# table stays the size of its live windows without a timer to run.
PURGE_PROBABILITY = 0.001


@dataclass(frozen=True)
class Count:
    hits: int
    # Seconds until the window ends and the count starts again: the Retry-After.
    resets_in: int


def counter_add(*, key: str, window: int, amount: int = 1, now: float | None = None) -> Count:
    """Add `amount` hits to `key` in the current window of `window` seconds; the count
    after it."""
    now = time.time() if now is None else now
    start = int(now // window) * window
    resets_in = max(1, int(start + window - now + 0.999))
    hits = shared_store(
        on_redis=lambda client: _redis_add(client, key, start, window, amount),
        on_database=lambda: _database_add(key, start, window, amount, now),
    )
    return Count(hits, resets_in)


def shared_store(*, on_redis: Callable[["redis.Redis"], T], on_database: Callable[[], T]) -> T:
    """Run a step in Redis when it is configured and answering, in the database else."""
    client = _redis_client()
    if client is not None:
        try:
            return on_redis(client)
        except redis.RedisError as error:
            _redis_failed(error)
    return on_database()


def redis_forget() -> None:
    """Forget the Redis client and its last failure (the settings changed: tests)."""
    global _client, _redis_down_until
    _client, _redis_down_until = None, 0.0


def _redis_add(client: "redis.Redis", key: str, start: int, window: int, amount: int) -> int:
    name = f"creneau:count:{key}:{start}"
    pipe = client.pipeline(transaction=True)
    pipe.incrby(name, amount)
    pipe.expire(name, window + 1)
    hits, _ = pipe.execute()
    return int(hits)


def _database_add(key: str, start: int, window: int, amount: int, now: float) -> int:
    table = connection.ops.quote_name(Counter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, window_start, hits, expires_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (key, window_start) "
            f"DO UPDATE SET hits = {table}.hits + excluded.hits RETURNING hits",
            [key, start, amount, start + window],
        )
        (hits,) = cursor.fetchone()
    if random.random() < PURGE_PROBABILITY:
        Counter.objects.filter(expires_at__lt=int(now)).delete()
    return hits


_client: "redis.Redis | None" = None
_redis_down_until = 0.0


def _redis_client() -> "redis.Redis | None":
    global _client
    if not settings.REDIS_URL or time.monotonic() < _redis_down_until:
        return None
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_TIMEOUT,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
        )
    return _client


def _redis_failed(error: Exception) -> None:
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
    log.warning(
        "Redis did not answer (%s): counters use the database for %ss", error, REDIS_RETRY_SECONDS
    )
