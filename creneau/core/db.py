"""Database helpers shared by the services."""

import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ParamSpec, TypeVar

from django.db import OperationalError, connection, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.fields import AutoFieldMixin
from django.db.models.sql.subqueries import UpdateQuery

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
    registered with `before_commit` run: their statements are the last before COMMIT,
    after the checks PostgreSQL would otherwise defer to COMMIT (`_deferred_checks_run`)."""
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
                if hooks:
                    _deferred_checks_run()
                for hook, items in hooks.values():
                    hook(items)
            return result
        finally:
            # Each attempt of the retry starts with no hooks: what a failed attempt
            # registered was rolled back with it.
            _unit.hooks = None

    return retry_on_deadlock(run)


def _deferred_checks_run() -> None:
    """Check now the foreign keys PostgreSQL defers to COMMIT (Django declares them
    DEFERRABLE INITIALLY DEFERRED), before the hooks take their lock.

    A check takes KEY SHARE on the row referred to (a booking's appointment: its slot),
    so it waits while another transaction holds that row FOR UPDATE. Left to COMMIT, it
    came after the hooks' lock, the audit chain's head: a booking holding a head it had
    just created waited at COMMIT for a slot that a session's change of lines held,
    while that change waited to create the same head, a deadlock. Checked here, whoever
    holds a head waits for nothing more.

    Switching to IMMEDIATE checks what is pending at once; switching back to DEFERRED,
    in the same round trip, leaves the transaction as it was for whatever follows (a
    unit of work nested in a test's or a command's transaction). SQLite has no row
    locks: its writers run one at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")


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
    again. The statement is the ORM's own update, so the condition is written once, in
    the ORM."""
    model = queryset.model
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(queryset.db)
    compiler.pre_sql_setup()  # a condition across a relation becomes `id IN (…)`
    sql, params = compiler.as_sql()
    ops = connections[queryset.db].ops
    columns = ", ".join(ops.quote_name(field.column) for field in model._meta.concrete_fields)
    return list(model.objects.db_manager(queryset.db).raw(f"{sql} RETURNING {columns}", params))


# Hand-written statements (issue 15): the booking hot path writes its SQL itself, so that
# no query is built and compiled by the ORM per request. What stays the ORM's is what it
# knows best: which columns a model has, how each value is written (an encrypted field
# seals, a date becomes SQLite's text) and read back. These helpers ask the model's
# fields, so a column added to a model is written by the hot path too.


# The largest id a column holds (64-bit on both databases).
ID_MAX = 2**63 - 1


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def sql_value(value: Any) -> Any:
    """A datetime or a date as a parameter of hand-written SQL: as the ORM writes it
    (SQLite stores UTC text without an offset; psycopg takes the value itself)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def sql_datetime(value: Any) -> datetime:
    """A datetime column of a hand-written SELECT, aware, as the ORM reads it (SQLite
    answers UTC without an offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def sql_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@functools.cache
def _readers(model: type[Model], names: tuple[str, ...], vendor: str) -> list[tuple]:
    readers = []
    for name in names:
        field = model._meta.get_field(name)
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        readers.append((field.attname, col, converters))
    return readers


def model_from_row(model: type[M], names: tuple[str, ...], values: Sequence[Any]) -> M:
    """An instance of `model` from the columns of a hand-written SELECT (`names` are the
    fields read, in the row's order), each value read as the ORM reads it (decrypted,
    a datetime from SQLite's text); the fields not read are deferred, as with `only()`."""
    by_attname = {}
    for (attname, col, converters), value in zip(
        _readers(model, names, connection.vendor), values, strict=True
    ):
        for converter in converters:
            value = converter(value, col, connection)
        by_attname[attname] = value
    attnames = [f.attname for f in model._meta.concrete_fields if f.attname in by_attname]
    return model.from_db(connection.alias, attnames, [by_attname[a] for a in attnames])


def columns(model: type[Model], names: Sequence[str], alias: str) -> str:
    """`alias.column, …` of fields, for a hand-written SELECT read by model_from_row."""
    return ", ".join(
        f"{alias}.{connection.ops.quote_name(model._meta.get_field(name).column)}" for name in names
    )


@functools.cache
def _inserted_fields(model: type[Model]) -> list:
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, AutoFieldMixin))
    ]


def insert_values(instance: Model) -> tuple[list[str], list[Any]]:
    """The columns and parameters of an INSERT of `instance`, as the ORM's save would
    write them (defaults, `auto_now_add`, encryption); an automatic primary key is left to
    the database."""
    fields = _inserted_fields(type(instance))
    quote = connection.ops.quote_name
    return (
        [quote(field.column) for field in fields],
        [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields],
    )


def insert_sql(instance: Model, *, returning: str = "id") -> tuple[str, list[Any]]:
    """`INSERT … VALUES (…) RETURNING id` of one instance."""
    names, params = insert_values(instance)
    table = connection.ops.quote_name(instance._meta.db_table)
    marks = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
    return (f"{sql} RETURNING {returning}" if returning else sql), params


@functools.cache
def _insert_select_text(
    model: type[Model], linked: tuple[tuple[str, str], ...], source: str, vendor: str
) -> tuple[str, list]:
    links = dict(linked)
    fields = _inserted_fields(model)
    quote = connection.ops.quote_name
    values = [
        links.get(field.attname) or f"CAST(%s AS {field.cast_db_type(connection)})"
        for field in fields
    ]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) SELECT {', '.join(values)}"
    )
    return (f"{sql} FROM {source}" if source else sql), [
        field for field in fields if field.attname not in links
    ]


def insert_select_sql(
    instance: Model, *, linked: dict[str, str] | None = None, source: str = ""
) -> tuple[str, list[Any]]:
    """`INSERT … SELECT …` of one instance, for a PostgreSQL data-modifying CTE: each
    value a parameter cast to its column's type (in a SELECT list PostgreSQL cannot infer
    it from the column), but the columns of `linked` (attname → SQL, "s.id": the row
    another part of the statement inserted), selected `FROM source`. The text is made
    once per model and shape."""
    sql, fields = _insert_select_text(
        type(instance), tuple(sorted((linked or {}).items())), source, connection.vendor
    )
    return sql, [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]


def inserted(instance: Model, pk: Any) -> None:
    """`instance` as written by a hand-written INSERT that answered its id."""
    if pk is not None:
        instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def rows_insert(instances: Sequence[Model]) -> list[int]:
    """One multi-row INSERT of instances of one model, answering their ids in order (one
    round trip for a dose 1 and its dose 2). The ids are set on the instances."""
    if not instances:
        return []
    names: list[str] = []
    params: list[Any] = []
    for instance in instances:
        names, values = insert_values(instance)
        params += values
    table = connection.ops.quote_name(instances[0]._meta.db_table)
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES "
            f"{', '.join([row] * len(instances))} RETURNING id",
            params,
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    # The ids are drawn in the order of the VALUES (one sequence, one statement), whatever
    # order RETURNING gives them in.
    ids.sort()
    for instance, pk in zip(instances, ids, strict=True):
        inserted(instance, pk)
    return ids


def row_insert(instance: Model, *, unless_conflict: bool = False) -> bool:
    """INSERT one instance by hand-written SQL (core.db.insert_sql), its id set from
    RETURNING. `unless_conflict`: ON CONFLICT DO NOTHING (both databases), so that a
    unique constraint answers False instead of aborting the transaction, without the two
    round trips of a savepoint."""
    sql, params = insert_sql(instance, returning="")
    if unless_conflict:
        sql += " ON CONFLICT DO NOTHING"
    pk = instance._meta.pk
    automatic = isinstance(pk, AutoFieldMixin)
    if automatic:
        sql += f" RETURNING {connection.ops.quote_name(pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if automatic:
            row = cursor.fetchone()
            if row is None:
                return False
            inserted(instance, row[0])
            return True
        if not cursor.rowcount:
            return False
    inserted(instance, None)
    return True
