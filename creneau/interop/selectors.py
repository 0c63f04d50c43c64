"""Reads of the interop app: what we publish, and what other platforms offer near a place."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import F, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.errors import NotFound
from creneau.core.geo import Position, distance_km, grid_cell_ranges
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.selectors import (
    RINGS_KM,
    AvailabilityFilter,
    SiteResult,
    availability_search,
)
from creneau.sites.importer import SOURCE as OFFICIAL_SOURCE
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q
from creneau.vaccines.models import Vaccine

from .models import ExternalAvailability, ExternalLocation, ExternalPlatform

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


def publication_sites(*, now: datetime, where: Q | None = None) -> dict[int, PublishedSite]:
    """Every public site (`where` narrows them), by id: what a Location says of each (no
    personal data)."""
    rows = (
        Site.objects.filter(public_sites_q(now=now), where or Q())
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


# (id, site id, vaccine id, dose number, local date, start, end, capacity, booked)
PublishedSlot = tuple[int, int, int, int, date, datetime, datetime, int, int]


def publication_slots(*, now: datetime, site_ids: Iterable[int]) -> Iterator[PublishedSlot]:
    """The future slots of open sessions at those sites, full ones too (status busy), as
    plain tuples read in chunks: a million of them never sit in memory at once, and no
    join or model instance costs per row."""
    wanted = set(site_ids)
    rows = (
        Slot.objects.filter(start__gt=now, session__status=Session.Status.OPEN)
        .order_by()
        .values_list(
            "id",
            "site_id",
            "vaccine_id",
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
            yield row


def publication_vaccines() -> dict[int, tuple[str, str]]:
    """Every product's code and name, by id."""
    return {
        pk: (code, name) for pk, code, name in Vaccine.objects.values_list("id", "code", "name")
    }


# FHIR R4 reads (api/fhir.py) --------------------------------------------------------


def fhir_locations_near(
    *, origin: Position, radius_km: float, now: datetime
) -> list[tuple[float, PublishedSite]]:
    """Public sites within `radius_km` of `origin`, nearest first, with their distance."""
    cells = reduce(
        or_, (Q(grid_cell__range=bounds) for bounds in grid_cell_ranges(origin, radius_km))
    )
    found = []
    for site in publication_sites(now=now, where=cells).values():
        distance = distance_km(origin, Position(site.latitude, site.longitude))
        if distance <= radius_km:
            found.append((distance, site))
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    return found


def fhir_schedules(*, site_id: int, now: datetime) -> list[tuple[str, str, int]]:
    """(vaccine code, name, dose) of each product and dose with future slots at a site."""
    return list(
        Slot.objects.filter(site_id=site_id, start__gt=now, session__status=Session.Status.OPEN)
        .values_list("vaccine__code", "vaccine__name", "dose_number")
        .distinct()
        .order_by("vaccine__code", "dose_number")
    )


def fhir_slots(
    *,
    site_id: int,
    vaccine_code: str,
    dose_number: int,
    start_from: datetime,
    free_only: bool,
    offset: int,
    count: int,
) -> list[PublishedSlot]:
    """A schedule's slots from `start_from` in time order: `count` of them after `offset`."""
    rows = Slot.objects.filter(
        site_id=site_id,
        vaccine__code=vaccine_code,
        dose_number=dose_number,
        start__gte=start_from,
        session__status=Session.Status.OPEN,
    )
    if free_only:
        rows = rows.filter(booked__lt=F("capacity"))
    return list(
        rows.order_by("start", "id").values_list(
            "id",
            "site_id",
            "vaccine_id",
            "dose_number",
            "date",
            "start",
            "end",
            "capacity",
            "booked",
        )[offset : offset + count]
    )


# Other platforms in the national search ------------------------------------------------


def platform_confirmed(*, platform: ExternalPlatform, now: datetime) -> bool:
    """Whether what we show of a platform is its current state: its last read succeeded,
    less than INTEROP_STALE_MINUTES ago. Otherwise its places are "not confirmed"."""
    if platform.last_success_at is None:
        return False
    if platform.last_error_at is not None and platform.last_error_at > platform.last_success_at:
        return False
    return now - platform.last_success_at <= timedelta(minutes=settings.INTEROP_STALE_MINUTES)


@dataclass(frozen=True)
class ExternalResult:
    """Free places at a site whose bookings live on another platform."""

    location: ExternalLocation
    platform: str
    distance_km: float
    available_slots: int
    next_slot_at: datetime
    booking_url: str
    booking_phone: str
    vaccines: tuple[str, ...]
    vaccine_codes: tuple[str, ...]
    # False: the feed is down, malformed, stale or suddenly empty; the figures are from
    # `read_at`, its last good read.
    confirmed: bool
    read_at: datetime | None


def external_search(
    *,
    origin: Position,
    radius_km: float,
    wanted: AvailabilityFilter | None = None,
    limit: int = 20,
    now: datetime | None = None,
) -> list[ExternalResult]:
    """The nearest locations of other platforms with free places, by distance: from
    ExternalAvailability (what the last good reads left), never from a feed."""
    now = now or timezone.now()
    wanted = wanted or AvailabilityFilter()
    visible = ExternalLocation.objects.filter(
        Q(site__isnull=False) | Q(platform__external_sites_confirmed_at__isnull=False),
        listed=True,
        platform__active=True,
    )
    # The same filters as our read model's: ExternalAvailability has its fields' names.
    rows = wanted._narrow(
        ExternalAvailability.objects.filter(free__gt=0, first_free_start__gte=now)
    )
    if wanted.starts_before is not None:
        # A day's row of theirs whose first free place starts in time: its count is the
        # day's (their feed gives no more), the first place is within the window.
        rows = rows.filter(first_free_start__lt=wanted.starts_before)
    # As our own search does: ring by ring, the locations of a ring by distance (a few
    # index range scans), then the free places of the nearest 2 x limit of them at a time,
    # until `limit` have some. Summing every row of a disc (a location has a row a day for
    # eight weeks) made the search a third slower.
    distances: dict[int, float] = {}
    figures: dict[int, list] = {}
    for ring in (*(r for r in RINGS_KM if r < radius_km), radius_km):
        cells = reduce(
            or_, (Q(grid_cell__range=bounds) for bounds in grid_cell_ranges(origin, ring))
        )
        new = []
        for location_id, latitude, longitude in visible.filter(cells).values_list(
            "id", "latitude", "longitude"
        ):
            if location_id not in distances:
                distance = distance_km(origin, Position(latitude, longitude))
                if distance <= ring:
                    distances[location_id] = distance
                    new.append(location_id)
        new.sort(key=lambda location_id: (distances[location_id], location_id))
        for start in range(0, len(new), 2 * limit):
            for location_id, name, code, free, first in (
                rows.filter(location_id__in=new[start : start + 2 * limit])
                .values("location_id", "vaccine__name", "vaccine__code")
                .annotate(free=Sum("free"), first=Min("first_free_start"))
                .values_list("location_id", "vaccine__name", "vaccine__code", "free", "first")
                .order_by()
            ):
                known = figures.setdefault(location_id, [0, first, set()])
                known[0] += free
                known[1] = min(known[1], first)
                if code:
                    known[2].add((name, code))
            if len(figures) >= limit:
                break
        if len(figures) >= limit:
            break
    if not figures:
        return []
    chosen = sorted(figures, key=lambda location_id: (distances[location_id], location_id))
    chosen = chosen[:limit]
    locations = ExternalLocation.objects.select_related("platform").in_bulk(chosen)
    found = [(distances[location_id], locations[location_id]) for location_id in chosen]
    # The link and phone of each result's first free place.
    firsts = {location.pk: figures[location.pk][1] for _, location in found}
    links = {
        (location_id, start): (url, phone)
        for location_id, start, url, phone in rows.filter(
            location_id__in=list(firsts), first_free_start__in=set(firsts.values())
        ).values_list("location_id", "first_free_start", "booking_url", "booking_phone")
    }
    results = []
    for distance, location in found:
        free, first, products = figures[location.pk]
        url, phone = links.get((location.pk, first), (location.url, location.phone))
        names, codes = zip(*sorted(products), strict=True) if products else ((), ())
        results.append(
            ExternalResult(
                location=location,
                platform=location.platform.name,
                distance_km=distance,
                available_slots=free,
                next_slot_at=first,
                booking_url=url or location.url,
                booking_phone=phone or location.phone,
                vaccines=names,
                vaccine_codes=codes,
                confirmed=platform_confirmed(platform=location.platform, now=now),
                read_at=location.platform.last_success_at,
            )
        )
    return results


def national_search(
    *,
    origin: Position,
    radius_km: float = 50,
    wanted: AvailabilityFilter | None = None,
    limit: int = 20,
    now: datetime | None = None,
) -> tuple[list[SiteResult], list[ExternalResult]]:
    """Our sites (scheduling's availability_search, unchanged) and, beside them, the free
    places of other platforms within the same radius, each list sorted by distance. A site
    of ours with free places of its own is shown as ours, not again as another platform's."""
    now = now or timezone.now()
    ours = availability_search(
        origin=origin, radius_km=radius_km, wanted=wanted, limit=limit, now=now
    )
    theirs = external_search(
        origin=origin, radius_km=radius_km, wanted=wanted, limit=limit, now=now
    )
    own = {result.site.pk for result in ours if result.available_slots}
    return ours, [result for result in theirs if result.location.site_id not in own]


# The authority's view of the feeds ------------------------------------------------------


def platform_list() -> QuerySet[ExternalPlatform]:
    return ExternalPlatform.objects.order_by("name")


def platform_get(*, platform_id: int) -> ExternalPlatform:
    platform = ExternalPlatform.objects.filter(pk=platform_id).first()
    if platform is None:
        raise NotFound(gettext("Plateforme introuvable : %(id)s.") % {"id": platform_id})
    return platform


def platform_unmatched_sample(*, platform_id: int, size: int = 10) -> list[ExternalLocation]:
    """Locations of the platform that match none of our sites: what the authority looks at
    before confirming them as external sites."""
    return list(
        ExternalLocation.objects.filter(
            platform_id=platform_id, site__isnull=True, listed=True
        ).order_by("?")[:size]
    )


def platform_unmatched_count(*, platform_id: int) -> int:
    return ExternalLocation.objects.filter(
        platform_id=platform_id, site__isnull=True, listed=True
    ).count()
