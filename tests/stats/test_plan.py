"""A day's refresh reads each source through the index made for it (stats/0002), on
PostgreSQL (EXPLAIN, sequential scans priced out so that an index missing shows as one)
and on SQLite (EXPLAIN QUERY PLAN): it never scans a campaign's appointments or doses."""

import datetime as dt
import importlib

import pytest
from django.db import connection, transaction
from django.utils import timezone

from creneau.care.models import Administration
from creneau.stats import counting
from creneau.stats.services import rebuild_params
from tests.factories import LOT, make_site, vaccine

indexes_migration = importlib.import_module("creneau.stats.migrations.0002_source_indexes")
DAY = dt.date(2027, 3, 1)


def _plan(sql: str) -> str:
    counting.functions_register()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, rebuild_params(first=DAY, last=DAY))
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, rebuild_params(first=DAY, last=DAY))
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.django_db
def test_a_days_counting_reads_every_source_through_its_index(reference, django_user_model):
    # A hundred days of doses (detached records need no appointment): against an empty
    # table PostgreSQL would rather read the small partial index of every standing record.
    site, nurse = make_site(), django_user_model.objects.create_user("nurse")
    Administration.objects.bulk_create(
        Administration(
            site=site,
            dose_number=1,
            subject=f"s{n}",
            vaccine=vaccine(),
            lot=LOT,
            given_at=timezone.make_aware(dt.datetime.combine(DAY, dt.time(10)))
            - dt.timedelta(days=n % 100),
            given_by=nurse,
            from_status="arrived",
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE care_administration")
    plan = _plan(counting.facts_sql()) + _plan(counting.vaccination_days_sql())
    for name, (table, _columns) in indexes_migration.INDEXES.items():
        if connection.vendor == "postgresql" and table != "care_administration":
            # The tables this test leaves empty: PostgreSQL's planner picks among their
            # indexes by the statistics other tests leave (an appointment's series index
            # read whole, a day's slots by an index that begins with the site), different
            # from one run to the next. Sequential scans priced out, a table no index
            # served would show as one; SQLite checks each index by name.
            assert f"Seq Scan on {table}" not in plan, f"{table} scanned:\n{plan}"
        else:
            assert name in plan, f"{name} not used:\n{plan}"
