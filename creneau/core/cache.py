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
import uuid
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


# Reference data kept per process (issue 15, item 3) --------------------------------------

# How often a process asks the shared cache whether a kind of data changed, and the age
# at which it reads the data again anyway (the embedded default's local-memory cache is
# not shared: another process's change is seen within MAX_AGE_SECONDS; so is an edit that
# went round the services, in Django's admin).
VERSION_CHECK_SECONDS = 2.0
MAX_AGE_SECONDS = 60.0
_kept: list["ProcessKept"] = []


class ProcessKept:
    """Values that rarely change (products by code, postcodes' places), computed once per
    process and kept until their `name`'s version changes in the shared cache
    (`kept_version_bump`, called by the services that change them) or MAX_AGE_SECONDS
    pass. A hit is a dictionary lookup; the shared cache is asked at most once every
    VERSION_CHECK_SECONDS."""

    def __init__(self, name: str, *, size: int = 8192) -> None:
        self.name = name
        self.size = size
        self._values: dict = {}
        self._version: str | None = None
        self._check_at = 0.0
        self._stale_at = 0.0
        _kept.append(self)

    def get(self, key, compute: Callable):
        now = time.monotonic()
        if now >= self._check_at:
            version = cache.get(_version_key(self.name))
            if version != self._version or now >= self._stale_at:
                self._values.clear()
                self._version = version
                self._stale_at = now + MAX_AGE_SECONDS
            self._check_at = now + VERSION_CHECK_SECONDS
        try:
            return self._values[key]
        except KeyError:
            pass
        value = compute()
        if len(self._values) >= self.size:
            self._values.clear()
        self._values[key] = value
        return value

    def forget(self) -> None:
        self._values.clear()
        self._check_at = 0.0


def _version_key(name: str) -> str:
    return f"kept-version:{name}"


def kept_version_bump(name: str) -> None:
    """Every process reads `name`'s data again (within VERSION_CHECK_SECONDS): a new
    version now, and again at commit, so that no process keeps what it read in between."""
    from django.db import transaction

    def bump() -> None:
        cache.set(_version_key(name), uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump)


def kept_forget_all() -> None:
    """This process's kept values dropped (tests: each has a database of its own)."""
    for kept in _kept:
        kept.forget()
