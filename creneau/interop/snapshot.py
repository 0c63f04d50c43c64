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

It is read again when the data changes: every import, registration and confirmation
sets a new version under `VERSION_KEY` in the shared cache (`external_version_bump`), and
a search compares that version with its snapshot's (a cache read, Redis in production, no
SQL). The version is set at once and again once the transaction commits, so that no
process keeps a snapshot read in between. A process whose cache is not shared with the
worker's (the embedded default's local memory) sees a change at the latest
`INTEROP_SNAPSHOT_SECONDS` later, when its snapshot is read again anyway.
"""

import threading
import time
import uuid
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from creneau.vaccines.models import Vaccine

from .models import ExternalAvailability, ExternalLocation

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
_lock = threading.Lock()


def external_version_bump() -> None:
    """What search shows of other platforms has changed: every process reads it again."""

    def bump() -> None:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)

    bump()
    transaction.on_commit(bump, robust=True)


def _load(version: str | None) -> Snapshot:
    visible = ExternalLocation.objects.filter(
        Q(site__isnull=False) | Q(platform__external_sites_confirmed_at__isnull=False),
        listed=True,
        platform__active=True,
    )
    by_cell: dict[int, list[ExternalLocation]] = {}
    ids = set()
    for location in visible.select_related("platform").order_by("id"):
        by_cell.setdefault(location.grid_cell, []).append(location)
        ids.add(location.pk)
    rows = Rows()
    spans: dict[int, tuple[int, int]] = {}
    start, current = 0, None
    for location_id, vaccine_id, dose, day, free, first in (
        ExternalAvailability.objects.filter(location__in=visible)
        .order_by("location_id")
        .values_list("location_id", "vaccine_id", "dose_number", "date", "free", "first_free_start")
        .iterator(chunk_size=5000)
    ):
        if location_id not in ids:
            continue
        if location_id != current:
            if current is not None:
                spans[current] = (start, len(rows.free))
            start, current = len(rows.free), location_id
        rows.vaccine.append(vaccine_id or NO_VACCINE)
        rows.dose.append(dose)
        rows.day.append(day.toordinal())
        rows.free.append(free)
        rows.first.append(micros(first))
    if current is not None:
        spans[current] = (start, len(rows.free))
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
    """This process's snapshot, read again if the version changed or it is too old."""
    global _current
    version = cache.get(VERSION_KEY)
    current = _current
    if _fresh(current, version):
        return current
    # One thread reads it; the others keep answering from the one they have meanwhile
    # (they wait only when there is none yet).
    if not _lock.acquire(blocking=current is None):
        return current
    try:
        # Another thread may have read it meanwhile.
        current = _current
        if not _fresh(current, version):
            current = _current = _load(version)
    finally:
        _lock.release()
    return current


def external_snapshot_forget() -> None:
    """Drop this process's snapshot (tests, between databases)."""
    global _current
    _current = None


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    return (instant - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + value * MICROSECOND
