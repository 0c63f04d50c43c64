"""The indexes a day's refresh reads the other apps' rows through (stats/services.py),
created here so that the apps they belong to need no migration for a reader's sake.

Django's state does not know them: SQLite's table rebuild (an AlterField on one of these
tables, in a later migration of its app) would drop them silently.
`tests/stats/test_indexes.py` fails if one is missing; create it again in a migration here.
"""

from django.db import migrations

INDEXES = {
    # Appointments booked on a day; cancelled on a day (status first: the equality).
    "stats_appointment_created": ("booking_appointment", "created_at"),
    "stats_appointment_status_updated": ("booking_appointment", "status, updated_at"),
    # A day's slots, whatever the site (the slot indexes all begin with the site).
    "stats_slot_date": ("scheduling_slot", "date"),
    "stats_administration_given": ("care_administration", "given_at"),
    "stats_delivery_received": ("vaccines_delivery", "status, received_at"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0001_initial"),
        ("booking", "0014_series_age_band"),
        ("care", "0004_detached"),
        ("scheduling", "0001_initial"),
        ("vaccines", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX {name} ON {table} ({columns})", f"DROP INDEX {name}", elidable=False
        )
        for name, (table, columns) in INDEXES.items()
    ]
