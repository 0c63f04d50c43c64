"""Reads of the interop app: what we publish, and what other platforms offer near a place."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from creneau.scheduling.models import Session, Slot
from creneau.sites.importer import SOURCE as OFFICIAL_SOURCE
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q

# Rows read from the database per round trip while publishing a million slots.
CHUNK = 5000


@dataclass(frozen=True)
class PublishedSite:
    id: int
    name: str
    address: str
    postcode: str
    city: str
    department: str
    latitude: float
    longitude: float
    phone: str
    official_id: str
    finess: str


@dataclass(frozen=True)
class PublishedSlot:
    id: int
    site_id: int
    vaccine_code: str
    vaccine_name: str
    dose_number: int
    date: date
    start: datetime
    end: datetime
    capacity: int
    booked: int


def publication_sites(*, now: datetime) -> dict[int, PublishedSite]:
    """Every public site, by id: what the Location file says of each (no personal data)."""
    rows = (
        Site.objects.filter(public_sites_q(now=now))
        .order_by("id")
        .values_list(
            "id",
            "name",
            "address",
            "postcode",
            "commune__name",
            "department_id",
            "latitude",
            "longitude",
            "phone",
            "source",
            "external_id",
            "finess",
        )
    )
    return {
        row[0]: PublishedSite(
            id=row[0],
            name=row[1],
            address=row[2],
            postcode=row[3],
            city=row[4] or "",
            department=row[5],
            latitude=row[6],
            longitude=row[7],
            phone=row[8],
            official_id=row[10] if row[9] == OFFICIAL_SOURCE else "",
            finess=row[11],
        )
        for row in rows
    }


def publication_slots(*, now: datetime, site_ids: Iterable[int]) -> Iterator[PublishedSlot]:
    """The future slots of open sessions at those sites, full ones too (status busy), read
    in chunks so that a million of them never sit in memory at once."""
    wanted = set(site_ids)
    rows = (
        Slot.objects.filter(start__gt=now, session__status=Session.Status.OPEN)
        .order_by()
        .values_list(
            "id",
            "site_id",
            "vaccine__code",
            "vaccine__name",
            "dose_number",
            "date",
            "start",
            "end",
            "capacity",
            "booked",
        )
        .iterator(chunk_size=CHUNK)
    )
    for row in rows:
        # Filtered here rather than by a subquery: the public sites were read once already,
        # and the slots' (site, start) index then serves the start bound alone.
        if row[1] in wanted:
            yield PublishedSlot(*row)
