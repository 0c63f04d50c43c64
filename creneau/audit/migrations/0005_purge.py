"""The purge of whole sealed days (`audit.services.audit_purge`, the retention period):
on PostgreSQL the append-only trigger functions of 0002 and 0004 now let a row DELETE
through, like a TRUNCATE before, when the transaction has set `creneau.audit_purge` to
'on' (`audit.append_only`). Without DELETE granted on the tables, the application's role
still cannot use it (docs/operations.md). SQLite's triggers are dropped and restored
within the purge's transaction instead: nothing to change here.
"""

import django.utils.timezone
from django.db import migrations, models


FUNCTIONS = {
    "audit_event_append_only": "'audit_auditevent is append-only: % refused', TG_OP",
    "audit_append_only": "'% is append-only: % refused', TG_TABLE_NAME, TG_OP",
}


def _function(name: str, message: str, *, delete_allowed: bool) -> str:
    allowed = "('TRUNCATE', 'DELETE')" if delete_allowed else "('TRUNCATE')"
    return f"""
    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN {allowed}
           AND coalesce(current_setting('creneau.audit_purge', true), '') = 'on' THEN
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NULL;
        END IF;
        RAISE EXCEPTION {message}
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """


def run(*, delete_allowed: bool):
    def operation(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, message in FUNCTIONS.items():
            schema_editor.execute(
                _function(name, message, delete_allowed=delete_allowed), params=None
            )

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_chain_append_only"),
    ]

    operations = [
        migrations.RunPython(run(delete_allowed=True), run(delete_allowed=False)),
        migrations.CreateModel(
            name="Purge",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("through", models.DateField()),
                ("events", models.PositiveIntegerField(default=0)),
                ("purged_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["through"],
            },
        ),
    ]
