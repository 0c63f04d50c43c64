"""`manage.py flush`, which empties every table, the append-only audit log included.

The audit log's triggers (migrations audit 0002 and 0004: the events, the chain's links
and the seals) refuse UPDATE and DELETE of their rows.
Emptying the whole database is the one exception: it is what `flush` is for, and the
test suite flushes between transactional tests. This command opens a transaction, lets
the audit table be emptied within it, runs Django's flush and closes the exception:

- PostgreSQL: flush is a TRUNCATE (no row trigger fires); the TRUNCATE triggers let it
  through when `creneau.audit_purge` is 'on', set here with SET LOCAL, so for this
  transaction only.
- SQLite: flush is `DELETE FROM` each table, which the row triggers refuse; the delete
  triggers are dropped and created again from their own stored definitions inside the same
  transaction (SQLite's DDL is transactional), so no other connection ever sees the
  table without it, and a failed flush leaves it in place.

Nothing else in the application deletes audit rows.
"""

from django.core.management.commands import flush
from django.db import connections, transaction

from creneau.audit.models import APPEND_ONLY_TABLES


class Command(flush.Command):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL creneau.audit_purge = 'on'")
                super().handle(**options)
                return
            triggers = []
            if connection.vendor == "sqlite":
                tables = ", ".join(["%s"] * len(APPEND_ONLY_TABLES))
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                    f" AND name LIKE '%%no_delete' AND tbl_name IN ({tables})",
                    list(APPEND_ONLY_TABLES),
                )
                triggers = cursor.fetchall()
                for name, _ in triggers:
                    cursor.execute(f"DROP TRIGGER {name}")
            super().handle(**options)
            for _, definition in triggers:
                cursor.execute(definition)
