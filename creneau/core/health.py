"""Health checks, declared by any app and answered together at /healthz.

A check is a function that returns what it saw (a dict, shown as it is) and raises
`Unhealthy` (or any exception: a check that breaks has failed) when the service cannot
do its work. core declares the database and Redis; outreach declares the message worker
and the outbox backlog (creneau/outreach/health.py)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

Check = Callable[[], dict]


class Unhealthy(Exception):
    def __init__(self, reason: str, **seen: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seen = seen


_checks: dict[str, Check] = {}


def health_check(name: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        _checks[name] = check
        return check

    return register


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    checks: dict[str, dict]


def health_report() -> HealthReport:
    """Run every check, each on its own: one that fails does not hide the others."""
    checks: dict[str, dict] = {}
    for name, check in _checks.items():
        try:
            checks[name] = {"ok": True, **check()}
        except Unhealthy as error:
            checks[name] = {"ok": False, "error": error.reason, **error.seen}
        except Exception as error:  # a check that cannot run has failed: say how
            checks[name] = {"ok": False, "error": type(error).__name__}
    return HealthReport(healthy=all(c["ok"] for c in checks.values()), checks=checks)


@health_check("database")
def database_check() -> dict:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"vendor": connection.vendor, "ms": round((time.perf_counter() - started) * 1000, 1)}


@health_check("redis")
def redis_check() -> dict:
    """Only when REDIS_URL is set: without it, nothing uses Redis."""
    if not settings.REDIS_URL:
        return {"configured": False}
    import redis

    started = time.perf_counter()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        raise Unhealthy(type(error).__name__) from error
    finally:
        client.close()
    return {"configured": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
