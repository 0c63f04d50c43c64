"""The indexes a day's refresh reads through are created by stats/0002 on other apps'
tables, unknown to Django's state: a later migration that rebuilds one of those tables on
SQLite would drop them without a word. This says so."""

import importlib

import pytest
from django.db import connection

indexes_migration = importlib.import_module("creneau.stats.migrations.0002_source_indexes")


@pytest.mark.django_db
def test_every_index_of_the_refresh_exists():
    for name, (table, columns) in indexes_migration.INDEXES.items():
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, table)
        assert name in found, f"{name} missing on {table}: create it again (stats/0002)"
        assert found[name]["columns"] == [c.strip() for c in columns.split(",")]
