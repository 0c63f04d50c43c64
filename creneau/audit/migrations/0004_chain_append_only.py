"""The chain's links and the seals are append-only, like the events (migration 0002,
whose docstring says how); and the events written before the chain existed are chained
here, one chain per day of their time (shard 0, in id order), so that `audit_verify`
covers them too.

PostgreSQL: one function for both tables, naming the table it refuses; the TRUNCATE
trigger lets `manage.py flush` through as 0002's does (`creneau.audit_purge`).
"""

from django.db import migrations
from django.utils import timezone

from creneau.audit import chain

TABLES = ("audit_chainlink", "audit_seal")

SQLITE = [
    statement
    for table in TABLES
    for statement in (
        f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END
        """,
        f"""
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END
        """,
    )
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {table}_{what}" for table in TABLES for what in ("no_update", "no_delete")
]

POSTGRESQL = [
    """
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE'
           AND coalesce(current_setting('creneau.audit_purge', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    *(
        statement
        for table in TABLES
        for statement in (
            f"""
            CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION audit_append_only()
            """,
            f"""
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()
            """,
        )
    ),
]
POSTGRESQL_REVERSE = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_{what} ON {table}"
        for table in TABLES
        for what in ("no_truncate", "no_update_delete")
    ),
    "DROP FUNCTION IF EXISTS audit_append_only()",
]


def run(statements: dict[str, list[str]]):
    def operation(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise RuntimeError(f"No append-only triggers for {vendor}: add them here.")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return operation


def chain_existing(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("audit", "AuditEvent")
    ChainLink = apps.get_model("audit", "ChainLink")
    ChainHead = apps.get_model("audit", "ChainHead")
    heads: dict = {}
    links = []
    for event in AuditEvent.objects.order_by("pk").values(*chain.EVENT_FIELDS).iterator():
        day = timezone.localdate(event["at"])
        seq, previous = heads.get(day, (0, chain.GENESIS))
        digest = chain.link_hash(previous=previous, day=day, shard=0, seq=seq + 1, event=event)
        links.append(
            ChainLink(
                event_id=event["id"], day=day, shard=0, seq=seq + 1, prev_hash=previous, hash=digest
            )
        )
        heads[day] = (seq + 1, digest)
    ChainLink.objects.bulk_create(links, batch_size=1000)
    ChainHead.objects.bulk_create(
        ChainHead(day=day, shard=0, seq=seq, hash=digest) for day, (seq, digest) in heads.items()
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chain")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}),
        ),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
