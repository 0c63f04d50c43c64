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

The retention purge of whole sealed days (`audit.services.audit_purge`) is the other
exception; both lift the triggers with `audit.append_only.append_only_lifted`.
"""

from django.core.management.commands import flush
from django.db import connections, transaction

from creneau.audit.append_only import append_only_lifted


class Command(flush.Command):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        with (
            transaction.atomic(using=connection.alias),
            connection.cursor() as cursor,
            append_only_lifted(cursor, vendor=connection.vendor),
        ):
            super().handle(**options)
