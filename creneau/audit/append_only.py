"""Lifting the audit log's append-only triggers for one transaction: `manage.py flush`
(the whole database emptied) and the retention purge of whole sealed days
(`services.audit_purge`) are the only two callers.

- PostgreSQL: the trigger functions (migrations 0002, 0004, 0005) let a TRUNCATE or a
  DELETE through when the transaction has set `creneau.audit_purge` to 'on', with SET
  LOCAL: it ends with the transaction. The application's database role should not hold
  DELETE or TRUNCATE on these tables at all (docs/operations.md): then only the owner
  can use it.
- SQLite: the delete triggers are dropped and created again from their own stored
  definitions inside the same transaction (SQLite's DDL is transactional), so no other
  connection ever sees a table without its trigger, and a failure leaves them in place.
"""

import contextlib
from collections.abc import Iterator

from django.db.backends.utils import CursorWrapper

from .models import APPEND_ONLY_TABLES


@contextlib.contextmanager
def append_only_lifted(cursor: CursorWrapper, *, vendor: str) -> Iterator[None]:
    """Within an open transaction: rows of the audit tables may be deleted until the end
    of the block (SQLite) or of the transaction (PostgreSQL)."""
    if vendor == "postgresql":
        cursor.execute("SET LOCAL creneau.audit_purge = 'on'")
        yield
        return
    triggers = []
    if vendor == "sqlite":
        tables = ", ".join(["%s"] * len(APPEND_ONLY_TABLES))
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            f" AND name LIKE '%%no_delete' AND tbl_name IN ({tables})",
            list(APPEND_ONLY_TABLES),
        )
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
    yield
    for _, definition in triggers:
        cursor.execute(definition)
