"""Reads of the interop app: what we publish, and what other platforms offer near a place."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from creneau.care.models import Administration
from creneau.core.errors import NotFound
from creneau.core.geo import Position, distance_km, grid_cell_ranges
from creneau.geography.models import PostalCode
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
from .snapshot import NO_VACCINE, external_snapshot, from_micros, micros

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


def publication_vaccines() -> dict[int, tuple[str, str, str]]:
    """Every product's code, name and EU register number, by id."""
    return {
        pk: (code, name, eu_number)
        for pk, code, name, eu_number in Vaccine.objects.values_list(
            "id", "code", "name", "eu_number"
        )
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


def fhir_schedules(*, site_id: int, now: datetime) -> list[tuple[str, str, str, int]]:
    """(vaccine code, name, EU register number, dose) of each product and dose with future
    slots at a site."""
    return list(
        Slot.objects.filter(site_id=site_id, start__gt=now, session__status=Session.Status.OPEN)
        .values_list("vaccine__code", "vaccine__name", "vaccine__eu_number", "dose_number")
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


def fhir_immunizations(
    *,
    departments: list[str] | None,
    site_id: int | None = None,
    administration_id: int | None = None,
    given_from: datetime | None = None,
    given_before: datetime | None = None,
    offset: int = 0,
    count: int = 20,
) -> list[Administration]:
    """Doses given, withdrawn ones too (the registry is told they were entered in error),
    in the order they were given: those of sites in `departments` (None: every site), of
    one site, one by id, between two instants. A dose detached from an erased person is
    placed by its own site; any other by its appointment's."""
    rows = Administration.objects.all()
    if departments is not None:
        rows = rows.filter(
            Q(appointment__slot__site__department__in=departments)
            | Q(appointment__isnull=True, site__department__in=departments)
        )
    if site_id is not None:
        rows = rows.filter(
            Q(appointment__slot__site_id=site_id) | Q(appointment__isnull=True, site_id=site_id)
        )
    if administration_id is not None:
        rows = rows.filter(pk=administration_id)
    if given_from is not None:
        rows = rows.filter(given_at__gte=given_from)
    if given_before is not None:
        rows = rows.filter(given_at__lt=given_before)
    return list(
        rows.select_related(
            "vaccine", "given_by", "site", "appointment__person", "appointment__slot__site"
        ).order_by("given_at", "id")[offset : offset + count]
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
    """The nearest locations of other platforms with free places, by distance: from this
    process's snapshot of ExternalAvailability (what the last good reads left, `snapshot`),
    never from a feed; one query, for the results' booking links, and none when there is
    no result."""
    now = now or timezone.now()
    wanted = wanted or AvailabilityFilter()
    known = external_snapshot()
    now_micros = micros(now)
    vaccine = wanted.vaccine_id
    dose = wanted.dose_number
    day_from = wanted.date_from.toordinal() if wanted.date_from else None
    day_to = wanted.date_to.toordinal() if wanted.date_to else None
    # "Dans les 24 heures": a day's row of theirs whose first free place starts in time
    # (its count is the day's: their feed gives no more).
    before_micros = micros(wanted.starts_before) if wanted.starts_before else None

    def figures_of(location_id: int) -> tuple[int, int, set] | None:
        """(free places, first free start in µs, products) within the filters, or None."""
        span = known.spans.get(location_id)
        if span is None:
            return None
        start, stop = span
        rows = known.rows
        free, first, products = 0, None, set()
        for row_vaccine, row_dose, row_day, row_free, row_first in zip(
            rows.vaccine[start:stop],
            rows.dose[start:stop],
            rows.day[start:stop],
            rows.free[start:stop],
            rows.first[start:stop],
            strict=True,
        ):
            if (
                row_first < now_micros
                or (before_micros is not None and row_first >= before_micros)
                or (vaccine is not None and row_vaccine != vaccine)
                or (dose is not None and row_dose != dose)
                or (day_from is not None and row_day < day_from)
                or (day_to is not None and row_day > day_to)
            ):
                continue
            free += row_free
            first = row_first if first is None else min(first, row_first)
            if row_vaccine != NO_VACCINE and row_vaccine in known.vaccines:
                products.add(known.vaccines[row_vaccine])
        return (free, first, products) if first is not None else None

    # As our own search does: ring by ring, the locations of a ring by distance, until
    # `limit` of them have free places (the nearest ones, each looked at once).
    distances: dict[int, float] = {}
    found: list[tuple[float, ExternalLocation, tuple[int, int, set]]] = []
    for ring in (*(r for r in RINGS_KM if r < radius_km), radius_km):
        new = []
        for low, high in grid_cell_ranges(origin, ring):
            for cell in range(low, high + 1):
                for location in known.by_cell.get(cell, ()):
                    if location.pk in distances:
                        continue
                    distance = distance_km(origin, Position(location.latitude, location.longitude))
                    if distance <= ring:
                        distances[location.pk] = distance
                        new.append((distance, location.pk, location))
        new.sort(key=lambda item: item[:2])
        for distance, location_id, location in new:
            figures = figures_of(location_id)
            if figures is not None:
                found.append((distance, location, figures))
                if len(found) >= limit:
                    break
        if len(found) >= limit:
            break
    if not found:
        return []
    # The link and phone of each result's first free place: the one query.
    firsts = {location.pk: from_micros(figures[1]) for _, location, figures in found}
    links = {
        (location_id, start): (url, phone)
        for location_id, start, url, phone in wanted._narrow(
            ExternalAvailability.objects.filter(
                location_id__in=list(firsts), first_free_start__in=set(firsts.values())
            )
        ).values_list("location_id", "first_free_start", "booking_url", "booking_phone")
    }
    results = []
    for distance, location, (free, _, products) in found:
        first = firsts[location.pk]
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


def region_locations_q(*, departments: list[str] | None) -> Q:
    """Platforms' locations in these departments (None: everywhere): a matched one where
    our site is, another by its postcode."""
    if departments is None:
        return Q()
    return Q(site__department__in=departments) | Q(
        site__isnull=True,
        postcode__in=PostalCode.objects.filter(commune__department__in=departments).values("code"),
    )


@dataclass(frozen=True)
class RegionFigures:
    """A platform's figures within a regional authority's departments."""

    locations: int
    free: int


def platform_region_figures(*, departments: list[str]) -> dict[int, RegionFigures]:
    """Each platform's listed locations in these departments and the free places they have
    from its last good read, by platform id (a platform with none there is absent)."""
    in_region = ExternalLocation.objects.filter(
        region_locations_q(departments=departments), listed=True
    )
    counts = dict(
        in_region.values("platform_id")
        .annotate(n=Count("id"))
        .values_list("platform_id", "n")
        .order_by()
    )
    free = dict(
        ExternalAvailability.objects.filter(location__in=in_region)
        .values("location__platform_id")
        .annotate(n=Sum("free"))
        .values_list("location__platform_id", "n")
        .order_by()
    )
    return {
        platform_id: RegionFigures(locations=n, free=free.get(platform_id, 0))
        for platform_id, n in counts.items()
    }


def platform_unmatched_sample(
    *, platform_id: int, size: int = 10, departments: list[str] | None = None
) -> list[ExternalLocation]:
    """Locations of the platform that match none of our sites (in these departments): what
    the authority looks at before confirming them as external sites."""
    return list(
        ExternalLocation.objects.filter(
            region_locations_q(departments=departments),
            platform_id=platform_id,
            site__isnull=True,
            listed=True,
        ).order_by("?")[:size]
    )


def platform_unmatched_count(*, platform_id: int, departments: list[str] | None = None) -> int:
    return ExternalLocation.objects.filter(
        region_locations_q(departments=departments),
        platform_id=platform_id,
        site__isnull=True,
        listed=True,
    ).count()
