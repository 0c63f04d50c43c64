"""Database helpers shared by the services."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled
# back whole, so running it again is safe.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 3


def retry_on_deadlock(service: Callable[P, R]) -> Callable[P, R]:
    """Run a transactional service again when the database rolled it back to break a
    deadlock. Lock order makes these rare (see scheduling.services); this makes the rare
    one invisible to the caller instead of a 500."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(ATTEMPTS - 1):
            try:
                return service(*args, **kwargs)
            except OperationalError as error:
                sqlstate = getattr(error.__cause__, "sqlstate", None)
                if sqlstate not in _RETRYABLE_SQLSTATES or connection.in_atomic_block:
                    raise
        return service(*args, **kwargs)

    return run
