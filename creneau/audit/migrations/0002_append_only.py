"""The audit log is append-only, enforced by the database (invariant 8).

Triggers refuse every UPDATE and DELETE of a row, whoever sends it: the ORM, raw SQL, a
shell. The one way rows leave the table is emptying the whole database with
`manage.py flush` (the test suite does it between transactional tests), which
`creneau/audit/management/commands/flush.py` lets through:

- PostgreSQL: row triggers (BEFORE UPDATE OR DELETE) raise; Django's flush is a
  TRUNCATE, which fires no row trigger. A statement trigger refuses TRUNCATE as well,
  unless the transaction has set `creneau.audit_purge` to 'on' (the flush command does,
  with SET LOCAL).
- SQLite: BEFORE UPDATE and BEFORE DELETE triggers RAISE(ABORT). SQLite has no TRUNCATE;
  Django's flush is `DELETE FROM`, which the delete trigger refuses, so the flush
  command drops that trigger and creates it again in the same transaction.

Both raise an integrity error (SQLite's RAISE(ABORT) is a constraint failure; PostgreSQL
uses SQLSTATE 23000), so Django raises `IntegrityError` on both.
"""

from django.db import migrations

SQLITE = [
    """
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: DELETE refused'); END
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
]

POSTGRESQL = [
    """
    CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE'
           AND coalesce(current_setting('creneau.audit_purge', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
    """,
    """
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
]


def run(statements: dict[str, list[str]]):
    def operation(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"No append-only triggers for {vendor}: add them here.")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}),
        )
    ]
