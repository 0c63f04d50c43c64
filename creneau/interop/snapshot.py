"""What the national search needs of other platforms, kept in each process: no SQL query
per search for it (issue 15: the external part had added three queries to every search,
one per ring, and six when it found something).

The snapshot holds the locations search may show (matched to one of our sites, or
confirmed external sites of an active platform, listed in the last good read), with their
platform, by grid cell, and each location's free places per product, dose and day as
compact arrays, one per column for all locations (two platforms of 5,000 locations and
eight weeks of days are about 560,000 rows: 13.5 MiB so, measured, where arrays per
location took 18 MiB). Only the booking links of the results chosen are
read from the database, one query.

It is read again when the data changes, by a thread of the process's own while the
searches go on answering from the previous snapshot (`external_snapshot`): every import,
registration and confirmation sets a new version under `VERSION_KEY` in the shared
cache (`external_version_bump`), and a search compares that version with its snapshot's
(a cache read, Redis in production, no SQL). The version is set at once and again once
the transaction commits, so that no process keeps a snapshot read in between. A process
whose cache is not shared with the worker's (the embedded default's local memory) sees a
change at the latest `INTEROP_SNAPSHOT_SECONDS` later, when its snapshot is read again
anyway.
"""

import logging
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.db.models import Q

from creneau.vaccines.models import Vaccine

from .models import ExternalAvailability, ExternalLocation

logger = logging.getLogger(__name__)

VERSION_KEY = "interop:external:version"
# A row's product when the feed named one we do not know.
NO_VACCINE = 0


@dataclass
class Rows:
    """Every visible location's rows of ExternalAvailability, column by column, a
    location's rows side by side (`Snapshot.spans`): about 21 bytes a row."""

    vaccine: array = field(default_factory=lambda: array("i"))  # NO_VACCINE: unknown
    dose: array = field(default_factory=lambda: array("b"))
    day: array = field(default_factory=lambda: array("i"))  # date.toordinal()
    free: array = field(default_factory=lambda: array("i"))
    first: array = field(default_factory=lambda: array("q"))  # µs since 1970, exact


@dataclass
class Snapshot:
    version: str | None
    loaded_at: float  # time.monotonic()
    by_cell: dict[int, list[ExternalLocation]]
    rows: Rows
    spans: dict[int, tuple[int, int]]  # location id: its rows' [start, stop)
    vaccines: dict[int, tuple[str, str]]  # id: (name, code)


_current: Snapshot | None = None
_first_lock = threading.Lock()
# Whether a thread is reading the snapshot again, and when a failed read may be retried
# (time.monotonic()), under _state_lock: one read at a time in a process.
_state_lock = threading.Lock()
_rebuilding = False
_retry_at = 0.0
RETRY_SECONDS = 30


def external_version_bump() -> None:
    """What search shows of other platforms has changed: every process reads it again."""

    def bump() -> None:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump, robust=True)


# Each visible location's rows, as integers computed by the database: no datetime or
# date object is made per row (560,000 of them took most of the 4 s a read cost), and the
# visibility is a join rather than a list of ids. The day is date.toordinal(), the first
# free start exact µs since 1970 (Django keeps SQLite's instants as UTC text).
_ROWS_SQL = """
    SELECT a.location_id, COALESCE(a.vaccine_id, 0), a.dose_number, {day}, a.free, {first}
    FROM {availability} a
    JOIN {location} l ON l.id = a.location_id
    JOIN {platform} p ON p.id = l.platform_id
    WHERE l.listed = %s AND p.active = %s
      AND (l.site_id IS NOT NULL OR p.external_sites_confirmed_at IS NOT NULL)
    ORDER BY a.location_id
"""
_ROW_EXPRESSIONS = {
    "postgresql": {
        "day": "(a.date - DATE '0001-01-01') + 1",
        "first": "(EXTRACT(EPOCH FROM a.first_free_start) * 1000000)::bigint",
    },
    "sqlite": {
        "day": "CAST(julianday(a.date) - 1721424.5 AS INTEGER)",
        "first": "CAST(strftime('%%s', a.first_free_start) AS INTEGER) * 1000000"
        " + CAST(substr(a.first_free_start || '.000000', 21, 6) AS INTEGER)",
    },
}
CHUNK = 10_000


def _load(version: str | None) -> Snapshot:
    visible = ExternalLocation.objects.filter(
        Q(site__isnull=False) | Q(platform__external_sites_confirmed_at__isnull=False),
        listed=True,
        platform__active=True,
    )
    by_cell: dict[int, list[ExternalLocation]] = {}
    for location in visible.select_related("platform").order_by("id"):
        by_cell.setdefault(location.grid_cell, []).append(location)
    rows = Rows()
    spans: dict[int, tuple[int, int]] = {}
    columns = (rows.vaccine, rows.dose, rows.day, rows.free, rows.first)
    sql = _ROWS_SQL.format(
        availability=ExternalAvailability._meta.db_table,
        location=ExternalLocation._meta.db_table,
        platform=ExternalLocation._meta.get_field("platform").related_model._meta.db_table,
        **_ROW_EXPRESSIONS[connection.vendor],
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, True])
        while chunk := cursor.fetchmany(CHUNK):
            # Column by column (array.extend), a location's span by groupby: no object
            # made nor statement run per row.
            location_ids, *values = zip(*chunk, strict=True)
            start = len(rows.free)
            for location_id, group in groupby(location_ids):
                stop = start + sum(1 for _ in group)
                # A location cut by the chunk's end goes on in the next one.
                spans[location_id] = (spans.get(location_id, (start,))[0], stop)
                start = stop
            for column, value in zip(columns, values, strict=True):
                column.extend(value)
    return Snapshot(
        version=version,
        loaded_at=time.monotonic(),
        by_cell=by_cell,
        rows=rows,
        spans=spans,
        vaccines={
            pk: (name, code) for pk, name, code in Vaccine.objects.values_list("id", "name", "code")
        },
    )


def _fresh(snapshot: Snapshot | None, version: str | None) -> bool:
    """Read under the shared version (none known: Redis away, or nothing imported since
    the cache started) and not older than INTEROP_SNAPSHOT_SECONDS."""
    return (
        snapshot is not None
        and (version is None or version == snapshot.version)
        and time.monotonic() - snapshot.loaded_at < settings.INTEROP_SNAPSHOT_SECONDS
    )


def external_snapshot() -> Snapshot:
    """This process's snapshot. When the version changed or it is too old, it is read
    again by a thread of the process's own while searches go on answering from the one
    they have: a search never waits for a read but the process's first, which has
    nothing to answer from (it waits rather than show no other platform at all: people
    would take "no place elsewhere" for the truth; its failure is the search's, as a
    failure of the database our own search reads would be)."""
    global _current
    version = cache.get(VERSION_KEY)
    current = _current
    if _fresh(current, version):
        return current
    if current is None:
        with _first_lock:  # the process's other threads wait for this one's read
            if _current is None:
                _current = _load(version)
        return _current
    _rebuild_start(version)
    return _current  # the previous one, unless the new one is already read


def _rebuild_start(version: str | None) -> None:
    """Start the one read again of this process, unless it is under way or the last one
    failed less than RETRY_SECONDS ago."""
    global _rebuilding
    with _state_lock:
        if _rebuilding or time.monotonic() < _retry_at:
            return
        _rebuilding = True
    try:
        _thread_start(lambda: _rebuild(version))
    except RuntimeError:  # no thread could be started: try again with a later search
        logger.exception("interop: the snapshot's thread did not start")
        with _state_lock:
            _rebuilding = False


def _rebuild(version: str | None) -> None:
    global _current, _rebuilding, _retry_at
    try:
        _current = _load(version)
    except Exception:
        # Searches go on with the snapshot they have; logged, and tried again later
        # rather than by every search while the database is in trouble.
        logger.exception("interop: the snapshot of other platforms could not be read again")
        _retry_at = time.monotonic() + RETRY_SECONDS
    finally:
        with _state_lock:
            _rebuilding = False


def _thread_start(work: Callable[[], None]) -> None:
    """Run `work` in a daemon thread (gunicorn's sync workers answer meanwhile; the thread
    dies with the process), which closes its own database connection when done."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()  # this thread's connections only

    threading.Thread(target=run, name="interop-snapshot", daemon=True).start()


def external_snapshot_forget() -> None:
    """Drop this process's snapshot (tests, between databases)."""
    global _current, _retry_at
    _current = None
    _retry_at = 0.0


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    return (instant - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + value * MICROSECOND
