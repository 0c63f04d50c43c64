"""`manage.py flush`, which empties every table, the append-only audit log included.

The audit log's triggers (migration audit 0002) refuse UPDATE and DELETE of its rows.
Emptying the whole database is the one exception: it is what `flush` is for, and the
test suite flushes between transactional tests. This command opens a transaction, lets
the audit table be emptied within it, runs Django's flush and closes the exception:

- PostgreSQL: flush is a TRUNCATE (no row trigger fires); the TRUNCATE trigger lets it
  through when `creneau.audit_purge` is 'on', set here with SET LOCAL, so for this
  transaction only.
- SQLite: flush is `DELETE FROM` each table, which the row trigger refuses; the delete
  trigger is dropped and created again from its own stored definition inside the same
  transaction (SQLite's DDL is transactional), so no other connection ever sees the
  table without it, and a failed flush leaves it in place.

Nothing else in the application deletes audit rows.
"""

from django.core.management.commands import flush
from django.db import connections, transaction

from creneau.audit.models import TABLE

SQLITE_DELETE_TRIGGER = "audit_event_no_delete"


class Command(flush.Command):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL creneau.audit_purge = 'on'")
                super().handle(**options)
                return
            trigger = None
            if connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s"
                    " AND tbl_name = %s",
                    [SQLITE_DELETE_TRIGGER, TABLE],
                )
                row = cursor.fetchone()
                if row is not None:
                    trigger = row[0]
                    cursor.execute(f"DROP TRIGGER {SQLITE_DELETE_TRIGGER}")
            super().handle(**options)
            if trigger is not None:
                cursor.execute(trigger)
