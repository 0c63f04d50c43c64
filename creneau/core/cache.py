"""Django's Redis cache, except that Redis not answering is a cache miss, not a 500.

The cache only keeps what can be computed again (search answers for a second or two,
sessions that `cached_db` also writes to the database), so when Redis stops the service
goes on without it: reads miss, writes are dropped, and for `RETRY_SECONDS` after a
failure Redis is not even tried (each try would cost a request up to REDIS_TIMEOUT).
Counting operations (`incr`, `decr`) still raise: a count cannot be made up; the abuse
limits and the waiting room keep their own fallback (creneau/admission/counters.py)."""

import hashlib
import logging
import time
from collections.abc import Callable

import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
_down_until = 0.0


def _tolerant(name: str, miss):
    """The client's method `name`, answering `miss(*args)` while Redis does not answer."""
    method = getattr(RedisCacheClient, name)

    def call(self, *args, **kwargs):
        global _down_until
        if time.monotonic() < _down_until:
            return miss(*args)
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as error:
            _down_until = time.monotonic() + RETRY_SECONDS
            log.warning("Redis did not answer (%s): cache off for %ss", error, RETRY_SECONDS)
            return miss(*args)

    call.__name__ = name
    return call


class _Client(RedisCacheClient):
    get = _tolerant("get", lambda key, default: default)
    get_many = _tolerant("get_many", lambda keys: {})
    has_key = _tolerant("has_key", lambda key: False)
    add = _tolerant("add", lambda *args: False)
    set = _tolerant("set", lambda *args: None)
    set_many = _tolerant("set_many", lambda data, timeout: list(data))
    touch = _tolerant("touch", lambda *args: False)
    delete = _tolerant("delete", lambda key: False)
    delete_many = _tolerant("delete_many", lambda keys: None)
    clear = _tolerant("clear", lambda: False)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client


def bytes_kept(*, key: str, render: Callable[[], bytes], seconds: int) -> tuple[bytes, str]:
    """The bytes kept under `key` with their ETag (a strong one: their hash), rendered by
    `render` when not kept: a file served many times is neither written nor hashed again
    per request. The key must name everything the bytes depend on."""
    kept = cache.get(key)
    if kept is None:
        body = render()
        kept = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        cache.set(key, kept, seconds)
    return kept
