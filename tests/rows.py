"""The rows a step leaves, in a form two steps can be compared by: the raw workload's
booking against the application's (tests/bench), a hold by place against a hold by slot
(tests/booking)."""

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from creneau.core.crypto import VERSION, value_decrypt

# Values that differ by nature between two bookings (keys, times, names, references,
# random salts): compared by presence only (null, empty or set), never by value.
BY_PRESENCE = {
    "id",
    "created_at",
    "updated_at",
    "expires_at",
    "reference",
    "token_salt",
    "person_key",
    "match_key",
    "given_name",
    "family_name",
    "birth_date",
    "key",
    "request_hash",
    "event",
    "body",
    "to",
    "to_index",
    "name_index",
    "parameters",
    # The keys a message's secrets are derived from: the course's reference.
    "derived",
    "next_attempt_at",
}


@dataclass(frozen=True)
class Sealed:
    """A value encrypted at rest, opened: two sealed values compare by what they hold
    (each sealing draws a new nonce), and a sealed value never equals a clear one."""

    plain: str


def opened(table: str, column: str, value):
    if isinstance(value, str) and value.startswith(f"{VERSION}:"):
        return Sealed(value_decrypt(value, purpose=f"{table}.{column}"))
    return value


def presence(value) -> str:
    if isinstance(value, Sealed):
        return "sealed"
    return "null" if value is None else "empty" if value in ("", b"") else "set"


def rows() -> dict[str, dict]:
    """Every table's rows by primary key."""
    snapshot = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            key = connection.introspection.get_primary_key_column(cursor, table)
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            names = [c[0] for c in cursor.description]
            snapshot[table] = {
                row[names.index(key)] if key else tuple(row): {
                    name: opened(table, name, value) for name, value in zip(names, row, strict=True)
                }
                for row in cursor.fetchall()
            }
    return snapshot


def changes(before: dict, after: dict) -> dict:
    """What a step did, in a form two bookings can share: per table, the rows inserted
    (values, or presence for BY_PRESENCE and keys), the count deleted, and each updated
    column with its numeric change."""
    found = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        inserted = sorted(
            (
                tuple(
                    sorted(
                        (
                            column,
                            presence(value)
                            if column in BY_PRESENCE or column.endswith("_id")
                            else value,
                        )
                        for column, value in row.items()
                    )
                )
                for key, row in new.items()
                if key not in old
            ),
            key=repr,
        )
        deleted = sum(1 for key in old if key not in new)
        updated = Counter()
        for key, row in new.items():
            if key in old and row != old[key]:
                for column, value in row.items():
                    was = old[key][column]
                    if value != was:
                        step = value - was if isinstance(value, int | Decimal) else presence(value)
                        updated[(column, step if column not in BY_PRESENCE else "changed")] += 1
        if inserted or deleted or updated:
            found[table] = {"inserted": inserted, "deleted": deleted, "updated": dict(updated)}
    return found
