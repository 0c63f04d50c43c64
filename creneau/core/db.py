"""Database helpers shared by the services."""

import functools
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import OperationalError, connection, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=Model)

# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled
# back whole, so running it again is safe.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}
# SQLite's busy codes: the write lock was not had within the timeout, or a snapshot went
# stale before its first write. Nothing was written.
_RETRYABLE_SQLITE_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_SNAPSHOT, sqlite3.SQLITE_LOCKED}
ATTEMPTS = 3


def _retryable(error: OperationalError) -> bool:
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return getattr(cause, "sqlite_errorcode", None) in _RETRYABLE_SQLITE_CODES


def retry_on_deadlock(service: Callable[P, R]) -> Callable[P, R]:
    """Run a transactional service again when the database rolled it back to break a
    deadlock (or SQLite was busy). Lock order makes these rare (see scheduling.services);
    this makes the rare one invisible to the caller instead of a 500.

    Only the outermost transaction is retried: inside another one, the error goes up to
    whoever opened it, since what ran before in that transaction was rolled back too.
    """

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(ATTEMPTS - 1):
            try:
                return service(*args, **kwargs)
            except OperationalError as error:
                if not _retryable(error) or connection.in_atomic_block:
                    raise
        return service(*args, **kwargs)

    return run


# The hooks of the unit of work running in this thread (Django's connections are per
# thread too): key -> (hook, the items handed to it). None outside any unit of work.
_unit = threading.local()


def unit_of_work(service: Callable[P, R]) -> Callable[P, R]:
    """A service that is one unit of work: it opens its own transaction (its rule, its
    ledger and read-model updates, its outbox rows and its audit event commit together
    or not at all) and runs again whole after a deadlock or a busy database. Called
    inside another unit of work, it joins that one's transaction and leaves the retry to
    it.

    Once the outermost service has returned, still inside its transaction, the hooks
    registered with `before_commit` run: their statements are the last before COMMIT."""
    joined = transaction.atomic(service)

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(_unit, "hooks", None) is not None:
            return joined(*args, **kwargs)
        _unit.hooks = {}
        try:
            with transaction.atomic():
                result = service(*args, **kwargs)
                hooks, _unit.hooks = _unit.hooks, None
                for hook, items in hooks.values():
                    hook(items)
            return result
        finally:
            # Each attempt of the retry starts with no hooks: what a failed attempt
            # registered was rolled back with it.
            _unit.hooks = None

    return retry_on_deadlock(run)


def before_commit(key: str, hook: Callable[[list[Any]], None]) -> list[Any] | None:
    """The list that `hook` will be given at the end of the current unit of work, after
    its service has returned and just before COMMIT (one hook per `key`: add items to
    the list). For a lock that must be the transaction's last, so that whoever holds it
    never waits for another lock: the audit chain's head (see audit.services). None
    outside a unit of work: the caller then does the work itself, at once."""
    hooks = getattr(_unit, "hooks", None)
    if hooks is None:
        return None
    return hooks.setdefault(key, (hook, []))[1]


def keys_lock(*keys: str) -> None:
    """Serialise, until they end, the transactions that name the same keys (a client, a
    network), where no row exists to lock: a count of rows and the insert it allows
    then cannot interleave with another's.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order so that two
    transactions naming the same keys cannot deadlock. SQLite needs none: its write
    transactions (BEGIN IMMEDIATE, see settings) already run one at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def update_returning(queryset: QuerySet[M], **values: Any) -> list[M]:
    """`queryset.update(**values)` that answers the rows it changed, as they are after
    it, in the same statement (UPDATE … RETURNING: PostgreSQL, and SQLite since 3.35):
    a conditional update whose caller needs the row saves the round trip of reading it
    again (issue 15). The statement is the ORM's own update, so the condition is
    written once, in the ORM."""
    model = queryset.model
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(queryset.db)
    compiler.pre_sql_setup()  # a condition across a relation becomes `id IN (…)`
    sql, params = compiler.as_sql()
    ops = connections[queryset.db].ops
    columns = ", ".join(ops.quote_name(field.column) for field in model._meta.concrete_fields)
    return list(model.objects.db_manager(queryset.db).raw(f"{sql} RETURNING {columns}", params))
