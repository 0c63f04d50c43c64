"""Reads for search and booking pages: nearest sites with availability, a site's slots."""

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.cache import ProcessKept
from creneau.core.db import model_from_row, sql_date, sql_datetime
from creneau.core.errors import InvalidInput, NotFound
from creneau.core.geo import Position, distance_km, grid_cell_ranges
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q, site_require_public, sites_with_communes
from creneau.vaccines.models import Vaccine

from .models import DayAvailability, Session, Slot
from .sql import (
    availability_rows,
    calendar_rows,
    free_slot_rows,
    public_sites_in_cells,
    slots_free_from_rows,
    slots_next_rows,
    vaccine_active_row,
)

_SLUG = re.compile(r"^[a-z0-9-]{1,30}$")
MAX_RADIUS_KM = 300
MAX_LIMIT = 100
MAX_WINDOW_DAYS = 366
# Search widens ring by ring and stops as soon as it has enough sites with slots, so
# its cost follows the number of results asked for, not the number of sites in France.
RINGS_KM = (5, 10, 20, 40, 80, 160)


@dataclass(frozen=True)
class AvailabilityFilter:
    vaccine_id: int | None = None
    dose_number: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    # Only places starting before this moment ("dans les 24 heures"). A read-model row is a
    # whole day: one whose last free place starts later is recounted from its slots.
    starts_before: datetime | None = None

    def _narrow(self, queryset):
        if self.vaccine_id is not None:
            queryset = queryset.filter(vaccine_id=self.vaccine_id)
        if self.dose_number is not None:
            queryset = queryset.filter(dose_number=self.dose_number)
        if self.date_from is not None:
            queryset = queryset.filter(date__gte=self.date_from)
        if self.date_to is not None:
            queryset = queryset.filter(date__lte=self.date_to)
        return queryset


@dataclass(frozen=True)
class Availability:
    available_slots: int
    next_slot_at: datetime | None
    # The products with free places, by name: a person may want (or be open to) only one.
    vaccines: tuple[str, ...] = ()
    # Their codes, in the same order (what the API's filters take).
    vaccine_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteResult:
    site: Site
    distance_km: float
    available_slots: int
    next_slot_at: datetime | None
    vaccines: tuple[str, ...] = ()
    vaccine_codes: tuple[str, ...] = ()


# Active products by code, per process: every search and hold names one; vaccines_seed
# bumps the version.
_VACCINES = ProcessKept("vaccines")


def _vaccine_active(code: str) -> Vaccine | None:
    row = vaccine_active_row(code=code)
    fields = tuple(f.name for f in Vaccine._meta.concrete_fields)
    return None if row is None else model_from_row(Vaccine, fields, row)


def vaccine_by_code(code: str) -> Vaccine:
    code = code.strip().lower()
    vaccine = _VACCINES.get(code, lambda: _vaccine_active(code)) if _SLUG.match(code) else None
    if vaccine is None:
        codes = ", ".join(Vaccine.objects.filter(active=True).values_list("code", flat=True))
        raise InvalidInput(
            gettext("Vaccin inconnu : « %(code)s ». Vaccins proposés : %(codes)s.")
            % {"code": code[:40], "codes": codes}
        )
    return vaccine


WITHIN_HOURS = 24


def availability_filter_build(
    *,
    vaccine_code: str | None = None,
    dose_number: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    within_24h: bool = False,
    now: datetime | None = None,
) -> AvailabilityFilter:
    """Check a search's filters and say plainly what is wrong with them. `within_24h`:
    only places starting in the next 24 hours (their days, today and tomorrow wherever
    the site is, bound the read model's rows)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if dose_number is not None and not 1 <= dose_number <= 3:
        raise InvalidInput(gettext("La dose va de 1 à 3."))
    # A day of slack: it is still yesterday in Guadeloupe or Tahiti after midnight in Paris.
    if date_from is not None and date_from < today - timedelta(days=1):
        raise InvalidInput(gettext("La date de début est passée."))
    if date_to is not None and date_to < today - timedelta(days=1):
        raise InvalidInput(gettext("La date de fin est passée."))
    if date_from and date_to and date_to < date_from:
        raise InvalidInput(gettext("La date de fin précède la date de début."))
    if date_to and (date_to - (date_from or today)).days > MAX_WINDOW_DAYS:
        raise InvalidInput(
            gettext("La période de recherche dépasse %(days)d jours.") % {"days": MAX_WINDOW_DAYS}
        )
    vaccine = vaccine_by_code(vaccine_code) if vaccine_code else None
    starts_before = None
    if within_24h:
        starts_before = now + timedelta(hours=WITHIN_HOURS)
        # A day of slack on each side: local days differ by a day overseas.
        date_from = max(date_from or today - timedelta(days=1), today - timedelta(days=1))
        last = timezone.localdate(starts_before) + timedelta(days=1)
        date_to = min(date_to, last) if date_to else last
    return AvailabilityFilter(
        vaccine_id=vaccine.pk if vaccine else None,
        dose_number=dose_number,
        date_from=date_from,
        date_to=date_to,
        starts_before=starts_before,
    )


def availability_by_site(
    *, site_ids: list[int], wanted: AvailabilityFilter, now: datetime
) -> dict[int, Availability]:
    """Free places and first free start per site, from the read model, in one statement
    (scheduling.sql.availability_rows).

    A row whose first free place has already started (today's, in the afternoon) is
    recounted from that day's slots, so that a slot of 9 a.m. is not offered at 3 p.m.
    Per site and product (the product's name by a join on a table of a few rows): a list
    of results shows what each site offers without a query each.
    """
    if not site_ids:
        return {}
    figures: dict[int, list] = {}
    for site_id, name, code, free, first in availability_rows(
        site_ids=site_ids,
        now=now,
        **asdict(wanted),
    ):
        first = sql_datetime(first)
        known = figures.setdefault(site_id, [0, first, set()])
        known[0] += free
        known[1] = min(known[1], first)
        known[2].add((name, code))
    availability = {}
    for site_id, (free, first, products) in figures.items():
        names, codes = zip(*sorted(products), strict=True)
        availability[site_id] = Availability(free, first, names, codes)
    return availability


def availability_search(
    *,
    origin: Position,
    radius_km: float = 50,
    wanted: AvailabilityFilter | None = None,
    limit: int = 20,
    now: datetime | None = None,
) -> list[SiteResult]:
    """Nearest public sites within radius_km: those with free places first, then the rest.

    Both groups are sorted by distance; each result carries its great-circle distance.
    """
    if not 0 < radius_km <= MAX_RADIUS_KM:
        raise InvalidInput(gettext("Le rayon va de 0 à %(max)d km.") % {"max": MAX_RADIUS_KM})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            gettext("Le nombre de résultats va de 1 à %(max)d.") % {"max": MAX_LIMIT}
        )
    now = now or timezone.now()
    wanted = wanted or AvailabilityFilter()
    distances: dict[int, float] = {}
    availability: dict[int, Availability] = {}
    for ring in [r for r in RINGS_KM if r < radius_km] + [radius_km]:
        new_ids = []
        for site_id, latitude, longitude in public_sites_in_cells(
            cells=grid_cell_ranges(origin, ring), now=now
        ):
            if site_id in distances:
                continue
            distance = distance_km(origin, Position(latitude, longitude))
            if distance <= ring:
                distances[site_id] = distance
                new_ids.append(site_id)
        # Nearest first, a few at a time: in a dense city the first ring holds hundreds of
        # sites, and the nearest ones usually answer the search on their own.
        new_ids.sort(key=distances.__getitem__)
        for start in range(0, len(new_ids), 2 * limit):
            chunk = new_ids[start : start + 2 * limit]
            availability.update(availability_by_site(site_ids=chunk, wanted=wanted, now=now))
            if len(availability) >= limit:
                break
        if len(availability) >= limit:
            break

    with_slots = sorted(availability, key=lambda site_id: distances[site_id])
    without = sorted(
        (site_id for site_id in distances if site_id not in availability),
        key=lambda site_id: distances[site_id],
    )
    chosen = (with_slots + without)[:limit]
    sites = sites_with_communes(site_ids=chosen)
    nothing = Availability(0, None)
    return [
        SiteResult(
            site=sites[site_id],
            distance_km=round(distances[site_id], 2),
            available_slots=availability.get(site_id, nothing).available_slots,
            next_slot_at=availability.get(site_id, nothing).next_slot_at,
            vaccines=availability.get(site_id, nothing).vaccines,
            vaccine_codes=availability.get(site_id, nothing).vaccine_codes,
        )
        for site_id in chosen
    ]


@dataclass(frozen=True)
class DayFigures:
    date: date
    vaccine_code: str
    dose_number: int
    free: int


def site_calendar(
    *, site: Site, wanted: AvailabilityFilter | None = None, now: datetime | None = None
) -> list[DayFigures]:
    """Free places per day, vaccine and dose at a site, from the read model, in one
    statement. Days that have begun are recounted from their slots, as search does."""
    now = now or timezone.now()
    wanted = wanted or AvailabilityFilter()
    rows = calendar_rows(
        site_id=site.pk,
        now=now,
        **asdict(wanted),
    )
    figures = sorted((sql_date(day), code, dose, free) for day, code, dose, free in rows)
    return [
        DayFigures(date=day, vaccine_code=code, dose_number=dose, free=free)
        for day, code, dose, free in figures
    ]


@dataclass(frozen=True)
class FreeSlot:
    """A slot as a list shows it: plain values, read without building models."""

    pk: int
    date: date
    start: datetime
    end: datetime
    vaccine_code: str
    dose_number: int
    available: int


def slot_list_available(
    *,
    site_id: int,
    day: date | None = None,
    wanted: AvailabilityFilter | None = None,
    now: datetime | None = None,
) -> list[FreeSlot]:
    """Free future slots of a public site on a day; without a day, on its first day with any."""
    now = now or timezone.now()
    site_require_public(site_id=site_id, now=now)
    return site_free_slots(site_id=site_id, day=day, wanted=wanted or AvailabilityFilter(), now=now)


def site_free_slots(
    *, site_id: int, day: date | None, wanted: AvailabilityFilter, now: datetime
) -> list[FreeSlot]:
    """A site's free future slots on a day (without a day, on its first day with any), the
    earliest first, in one statement; whether the public may see the site is the caller's."""
    return [
        FreeSlot(pk, sql_date(on), sql_datetime(start), sql_datetime(end), code, dose, free)
        for pk, on, start, end, code, dose, free in free_slot_rows(
            site_id=site_id,
            day=day,
            now=now,
            **asdict(wanted),
        )
    ]


def slots_free_from(
    *, site_id: int, vaccine_id: int, start: datetime, now: datetime, limit: int = 8
) -> list[int]:
    """A site's free first-dose slots of a product on the day of its slots starting at
    `start`, from `start` on (and not begun), the earliest first: where a hold named by
    site and time looks for its place. The day is the slots' own local date (the site's
    time zone: Guadeloupe's evening is the next day in Paris), read in the same query."""
    return slots_free_from_rows(
        site_id=site_id, vaccine_id=vaccine_id, start=start, now=now, limit=limit
    )


def slots_next(
    *,
    first_free: dict[int, datetime],
    wanted: AvailabilityFilter | None = None,
    per_site: int = 4,
    now: datetime | None = None,
) -> dict[int, list[FreeSlot]]:
    """The next free slots of several sites in one query, for a list of search results.

    `first_free` maps each site to its first free start, as availability_search found it;
    the earliest `per_site` slots of the following 24 hours are read (numbered per site in
    the database: a day of a busy site is hundreds of rows, each with two datetimes that
    the driver would parse for nothing).
    """
    if not first_free:
        return {}
    now = now or timezone.now()
    wanted = wanted or AvailabilityFilter()
    rows = slots_next_rows(
        first_free=first_free,
        now=now,
        per_site=per_site,
        vaccine_id=wanted.vaccine_id,
        dose_number=wanted.dose_number,
        date_from=wanted.date_from,
        date_to=wanted.date_to,
    )
    slots: dict[int, list[FreeSlot]] = {site_id: [] for site_id in first_free}
    for site_id, pk, day, start, end, code, dose, free in rows:
        slots[site_id].append(
            FreeSlot(pk, sql_date(day), sql_datetime(start), sql_datetime(end), code, dose, free)
        )
    return slots


def session_get(*, site_id: int, session_id: int) -> Session:
    """A site's session; one of another site is as not found as a missing one."""
    session = Session.objects.filter(site_id=site_id, pk=session_id).first()
    if session is None:
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    return session


def site_day_sessions(*, site_id: int, day: date) -> list[Session]:
    """A site's sessions of a local day, with their places booked and in all."""
    return list(
        Session.objects.filter(site_id=site_id, date=day)
        .select_related("vaccine")
        .annotate(places=Sum("slots__capacity"), booked=Sum("slots__booked"))
        .order_by("start_time", "pk")
    )


@dataclass(frozen=True)
class DayCommitment:
    date: date
    vaccine: str
    dose_number: int
    places: int
    booked: int
    doses: int


def site_commitments(*, site_id: int, date_from: date, days: int = 60) -> list[DayCommitment]:
    """What a site's sessions promise, day by day: places, places booked, and the doses
    the places hold back in the ledger (a first-dose place holds the whole course)."""
    rows = (
        Slot.objects.filter(
            site_id=site_id, date__gte=date_from, date__lt=date_from + timedelta(days=days)
        )
        .values("date", "vaccine__name", "dose_number")
        .annotate(
            places=Sum("capacity"),
            booked_places=Sum("booked"),
            doses=Sum(F("capacity") * F("session__doses_per_place")),
        )
        .order_by("date", "vaccine__name", "dose_number")
    )
    return [
        DayCommitment(
            date=row["date"],
            vaccine=row["vaccine__name"],
            dose_number=row["dose_number"],
            places=row["places"],
            booked=row["booked_places"],
            doses=row["doses"],
        )
        for row in rows
    ]


def site_sessions_ahead(*, site_id: int, date_from: date, limit: int = 200) -> list[Session]:
    """A site's sessions from a day on, with their places booked and in all."""
    return list(
        Session.objects.filter(site_id=site_id, date__gte=date_from)
        .select_related("vaccine")
        .annotate(places=Sum("slots__capacity"), booked=Sum("slots__booked"))
        .order_by("date", "start_time", "pk")[:limit]
    )


@dataclass(frozen=True)
class OpenedPlaces:
    """A read-model row where free places appeared (`opened_at`), with its site's position."""

    site_id: int
    latitude: float
    longitude: float
    vaccine_id: int
    dose_number: int
    date: date
    free: int
    first_free_start: datetime


def availability_opened(*, since: datetime, now: datetime | None = None) -> list[OpenedPlaces]:
    """Rows of public sites where free places appeared since `since` and a free place is
    still to come: one range scan on the partial index `availability_opened`."""
    now = now or timezone.now()
    rows = (
        DayAvailability.objects.filter(
            opened_at__gte=since, free__gt=0, last_free_start__gt=now, site__in=_public_ids(now)
        )
        .order_by()
        .values_list(
            "site_id",
            "site__latitude",
            "site__longitude",
            "vaccine_id",
            "dose_number",
            "date",
            "free",
            "first_free_start",
        )
    )
    return [OpenedPlaces(*row) for row in rows]


def _public_ids(now: datetime):
    return Site.objects.filter(public_sites_q(now=now)).values("pk")
