"""Key rotation: every encrypted value re-sealed with the ring's current key, while the
service runs (`manage.py keys_rotate`; docs/operations.md, "Keys").

Each batch is one short transaction over a range of primary keys. A value is replaced
by a conditional update (`WHERE pk = … AND column = <the value read>`): a row that the
application rewrote in the meantime (with the current key, since it always writes with
it) is left as it is, never overwritten with a stale value. A run stopped half-way is run
again: rows already under the current key are read and left, so it resumes in effect,
and `--start <table>:<pk>` (the last batch it printed) skips what is known done.

The audit log's sealed details are not rewritten: its events never are (they are
chained). A retired key stays in the ring for them until they are purged.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction

from .crypto import key_ring, value_decrypt, value_encrypt, value_key_id
from .fields import EncryptedField


@dataclass(frozen=True)
class EncryptedTable:
    model: type[models.Model]
    fields: tuple[EncryptedField, ...]

    @property
    def name(self) -> str:
        return self.model._meta.db_table


@dataclass(frozen=True)
class BatchDone:
    table: str
    last_pk: object
    rows: int
    resealed: int


def encrypted_tables() -> list[EncryptedTable]:
    """Every table with encrypted columns, in a fixed order."""
    tables = []
    for model in apps.get_models():
        fields = tuple(
            field
            for field in model._meta.local_concrete_fields
            if isinstance(field, EncryptedField)
        )
        if fields and not model._meta.proxy:
            tables.append(EncryptedTable(model=model, fields=fields))
    return sorted(tables, key=lambda table: table.name)


def value_reseal(*, table: EncryptedTable, field: EncryptedField, pk, stored: str) -> bool:
    """One value re-sealed with the current key, if it still is `stored`."""
    quote = connection.ops.quote_name
    fresh = value_encrypt(value_decrypt(stored, purpose=field.purpose), purpose=field.purpose)
    column, pk_column = quote(field.column), quote(table.model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table.name)} SET {column} = %s "
            f"WHERE {pk_column} = %s AND {column} = %s",
            [fresh, pk, stored],
        )
        return cursor.rowcount == 1


def _rows(*, table: EncryptedTable, after, size: int) -> list[tuple]:
    quote = connection.ops.quote_name
    pk_column = quote(table.model._meta.pk.column)
    columns = ", ".join(quote(field.column) for field in table.fields)
    where = "" if after is None else f" WHERE {pk_column} > %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk_column}, {columns} FROM {quote(table.name)}{where} "
            f"ORDER BY {pk_column} LIMIT %s",
            ([] if after is None else [after]) + [size],
        )
        return cursor.fetchall()


def table_rotate(
    *, table: EncryptedTable, after=None, size: int = 500, pause: float = 0.0
) -> Iterator[BatchDone]:
    """The table's rows in batches of `size` from after the primary key `after`, each
    batch its own transaction; `pause` seconds between batches leave room to the service."""
    while True:
        current = key_ring().current
        with transaction.atomic():
            rows = _rows(table=table, after=after, size=size)
            resealed = 0
            for pk, *values in rows:
                for field, stored in zip(table.fields, values, strict=True):
                    if stored and value_key_id(stored) != current:
                        resealed += value_reseal(table=table, field=field, pk=pk, stored=stored)
        if not rows:
            return
        after = rows[-1][0]
        yield BatchDone(table=table.name, last_pk=after, rows=len(rows), resealed=resealed)
        if pause:
            time.sleep(pause)


def keys_rotate(
    *,
    size: int = 500,
    pause: float = 0.0,
    start: tuple[str, str] | None = None,
    report: Callable[[BatchDone], None] | None = None,
) -> int:
    """Every encrypted value under the current key; the number of values re-sealed.
    `start` (a table, a primary key) resumes after a batch an earlier run reported."""
    resealed = 0
    tables = encrypted_tables()
    names = [table.name for table in tables]
    if start is not None and start[0] not in names:
        raise ValueError(f"No encrypted table {start[0]!r}: {', '.join(names)}.")
    for table in tables:
        after = None
        if start is not None:
            if table.name != start[0]:
                continue
            after, start = table.model._meta.pk.to_python(start[1]), None
        for batch in table_rotate(table=table, after=after, size=size, pause=pause):
            resealed += batch.resealed
            if report is not None:
                report(batch)
    return resealed


def keys_count() -> dict[str, Counter]:
    """Values under each key id, per table: a key may leave the ring when no value
    names it (and no audit event sealed with it is kept)."""
    counts: dict[str, Counter] = {}
    for table in encrypted_tables():
        counter = Counter()
        after = None
        while rows := _rows(table=table, after=after, size=2000):
            for _pk, *values in rows:
                counter.update(value_key_id(stored) for stored in values if stored)
            after = rows[-1][0]
        counts[table.name] = counter
    return counts
