"""Reads of the waiting list: who is offered a leftover dose (the wave's candidates, in the
authority's priority order), an offer or an entry from its link, a site's leftovers for
its staff."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext

from creneau.booking.models import Appointment, Contact, Series
from creneau.booking.selectors import dose2_options
from creneau.core.errors import NotFound
from creneau.core.geo import Position, distance_km, grid_cell_ranges
from creneau.eligibility.selectors import Candidate, eligibility_decide
from creneau.geography.selectors import department_timezone
from creneau.scheduling.models import Slot
from creneau.sites.models import Site

from . import tokens
from .models import MAX_RADIUS_KM, NOTICE_MINUTES, Leftover, Offer, PriorityBand, WaitlistEntry

# Offers go by SMS, or e-mail otherwise: a contact reached only by letter cannot be told
# in time.
OFFER_CHANNELS = (Contact.Channel.SMS, Contact.Channel.EMAIL)


@dataclass(frozen=True)
class WaveCandidate:
    """One person a wave may offer a place to, with what orders them."""

    entry: WaitlistEntry
    distance_km: float
    rank: int


def _age(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def priority_rank(*, birth_date: date, on: date, bands: list[PriorityBand]) -> int:
    """The rank of the age band the person is in (bands by decreasing `min_age`); after
    every band when none covers them."""
    age = _age(birth_date, on)
    return next((band.rank for band in bands if age >= band.min_age), len(bands) + 1000)


def window_fits(*, windows: list[dict], arrival: datetime, latest: datetime) -> bool:
    """Whether the person can come between `arrival` (the earliest they can be there) and
    `latest` (the end of the last place), both local: a window of theirs on that weekday
    overlaps it."""
    for window in windows:
        if arrival.weekday() not in window["days"]:
            continue
        start = time.fromisoformat(window["start"])
        end = time.fromisoformat(window["end"])
        if start < latest.time() and arrival.time() < end and arrival.date() == latest.date():
            return True
    return False


def leftover_free_slots(*, leftover: Leftover, now: datetime) -> list[Slot]:
    """The leftover session's places still to take: slots not begun, with room."""
    return [
        slot
        for slot in Slot.objects.filter(session_id=leftover.session_id, start__gt=now).order_by(
            "start", "pk"
        )
        if slot.booked < slot.capacity
    ]


def leftover_free_places(*, leftover: Leftover, now: datetime) -> int:
    return sum(
        slot.capacity - slot.booked for slot in leftover_free_slots(leftover=leftover, now=now)
    )


def _blocking_series(*, keys: list[str], leftover: Leftover) -> dict[str, bool]:
    """Per person key with an active course: True when it stops an offer. A course is no
    obstacle only when it is this contact's (checked on accept) and its dose 1 is still
    booked later than the leftover places (taking one then moves it earlier)."""
    blocking: dict[str, bool] = {}
    series = Series.objects.filter(person_key__in=keys, status=Series.Status.ACTIVE)
    later = {
        series_id
        for series_id in Appointment.objects.filter(
            series__in=series,
            dose_number=1,
            status=Appointment.Status.BOOKED,
            slot__start__gt=leftover.until,
        ).values_list("series_id", flat=True)
    }
    for series_id, key in series.values_list("pk", "person_key"):
        blocking[key] = series_id not in later
    return blocking


def wave_candidates(*, leftover: Leftover, now: datetime, limit: int) -> list[WaveCandidate]:
    """The next `limit` people to offer one of `leftover`'s places, in the authority's
    order (age band, then distance, then time on the list): on the list and not yet
    offered these doses nor holding a live offer, within their own radius of the site,
    accepting its vaccine, able to come before the last place ends (their notice and
    their windows), eligible for a first dose of it there today, and reachable by SMS or
    e-mail.

    Tens of thousands may wait around a city: their terms are read as plain columns and
    filtered first; then only the birth date is opened (the age band orders them), and
    only the first in that order are read whole and asked about eligibility."""
    site: Site = leftover.site
    centre = Position(site.latitude, site.longitude)
    slots = leftover_free_slots(leftover=leftover, now=now)
    if not slots or limit <= 0:
        return []
    tz = department_timezone(department_code=site.department_id)
    latest = slots[-1].end.astimezone(tz)
    cells = Q()
    for low, high in grid_cell_ranges(centre, MAX_RADIUS_KM):
        cells |= Q(grid_cell__gte=low, grid_cell__lte=high)
    rows = (
        WaitlistEntry.objects.filter(
            cells,
            status=WaitlistEntry.Status.ACTIVE,
            expires_at__gt=now,
            vaccines=leftover.vaccine_id,
            contact__channel__in=OFFER_CHANNELS,
        )
        .exclude(offers__leftover=leftover)
        # One running offer per person at a time (a subquery: one offer row must match
        # both terms).
        .exclude(
            pk__in=Offer.objects.filter(
                status=Offer.Status.OFFERED, answered_at__isnull=True, expires_at__gt=now
            ).values("entry_id")
        )
        .annotate(
            # Its text: most people give the same windows, each read once below.
            windows_text=Cast("windows", TextField()),
            booked=Exists(
                Series.objects.filter(
                    person_key=OuterRef("person_key"), status=Series.Status.ACTIVE
                )
            ),
        )
        .values_list(
            "pk",
            "latitude",
            "longitude",
            "radius_km",
            "notice_minutes",
            "windows_text",
            "joined_at",
            "person_key",
            "booked",
        )
    )
    near: dict[int, tuple[float, datetime]] = {}
    booked: dict[int, str] = {}
    arrivals = {
        minutes: (now + timedelta(minutes=minutes)).astimezone(tz) for minutes in NOTICE_MINUTES
    }
    fits: dict[tuple[str, int], bool] = {}
    for pk, latitude, longitude, radius, notice, windows, joined_at, key, has_series in rows:
        distance = distance_km(centre, Position(latitude, longitude))
        if distance > radius:
            continue
        arrival = arrivals[notice]
        if (windows, notice) not in fits:
            fits[(windows, notice)] = arrival < latest and window_fits(
                windows=json.loads(windows), arrival=arrival, latest=latest
            )
        if fits[(windows, notice)]:
            near[pk] = (distance, joined_at)
            if has_series:
                booked[pk] = key
    blocking = _blocking_series(keys=list(booked.values()), leftover=leftover)
    for pk, key in booked.items():
        if blocking.get(key, True):
            del near[pk]
    bands = list(PriorityBand.objects.order_by("-min_age"))
    today = now.astimezone(tz).date()
    ranks = {}
    for chunk in _chunks(list(near), CHUNK):
        for pk, birth_date in WaitlistEntry.objects.filter(pk__in=chunk).values_list(
            "pk", "birth_date"
        ):
            ranks[pk] = priority_rank(birth_date=birth_date, on=today, bands=bands)
    ordered = sorted(near, key=lambda pk: (ranks[pk], *near[pk], pk))
    found: list[WaveCandidate] = []
    for chunk in _chunks(ordered, max(limit, 50)):
        entries = WaitlistEntry.objects.select_related("contact").in_bulk(chunk)
        for pk in chunk:
            entry = entries[pk]
            decision = eligibility_decide(
                candidate=Candidate(
                    birth_date=entry.birth_date, categories=frozenset(entry.categories)
                ),
                vaccine=leftover.vaccine,
                dose_number=1,
                site=site,
                on=today,
                at=now,
            )
            if decision.eligible:
                found.append(WaveCandidate(entry=entry, distance_km=near[pk][0], rank=ranks[pk]))
                if len(found) == limit:
                    return found
    return found


# Ids per query: well under SQLite's limit on bound parameters.
CHUNK = 1000


def _chunks(items: list, size: int):
    for index in range(0, len(items), size):
        yield items[index : index + size]


def offer_from_token(*, token: str) -> Offer:
    """The offer a link names; the same "not found" for a forged key and a missing offer."""
    offer_id = tokens.offer_id_read(token=token)
    offer = (
        Offer.objects.select_related(
            "leftover__site", "leftover__vaccine", "entry__contact", "slot", "series"
        )
        .filter(pk=offer_id)
        .first()
        if offer_id is not None
        else None
    )
    if offer is None:
        raise NotFound(gettext("Ce lien de proposition n'est pas valable."))
    return offer


def entry_from_token(*, token: str) -> WaitlistEntry:
    entry_id = tokens.entry_id_read(token=token)
    entry = WaitlistEntry.objects.filter(pk=entry_id).first() if entry_id is not None else None
    if entry is None:
        raise NotFound(gettext("Ce lien d'inscription n'est pas valable."))
    return entry


@dataclass(frozen=True)
class LeftoverBoard:
    """What a site's staff see of one declaration: offered, accepted, still free."""

    leftover: Leftover
    offers: list[Offer]
    offered: int
    accepted: int
    free: int
    # A two-dose product with no second-dose place at the site in the interval: no wave
    # goes until one is opened (booking never leaves a dose 1 without its dose 2).
    dose2_missing: bool


def leftover_board(*, site_id: int, leftover_id: int, now: datetime | None = None) -> LeftoverBoard:
    """One of a site's declarations with its offers (names, arrival times): another
    site's or a missing one is the same 404."""
    now = now or timezone.now()
    leftover = (
        Leftover.objects.select_related("site", "vaccine", "session")
        .filter(pk=leftover_id, site_id=site_id)
        .first()
    )
    if leftover is None:
        raise NotFound(gettext("Déclaration introuvable."))
    offers = list(leftover.offers.select_related("entry", "slot").order_by("wave", "pk"))
    live = [o for o in offers if o.status == Offer.Status.OFFERED and o.expires_at > now]
    free = leftover_free_places(leftover=leftover, now=now)
    return LeftoverBoard(
        leftover=leftover,
        offers=offers,
        offered=len(live),
        accepted=sum(o.status == Offer.Status.ACCEPTED for o in offers),
        free=free if leftover.status == Leftover.Status.OPEN else 0,
        dose2_missing=leftover_dose2_missing(leftover=leftover, now=now),
    )


def leftover_dose2_missing(*, leftover: Leftover, now: datetime) -> bool:
    if leftover.vaccine.doses_in_series < 2 or leftover.status != Leftover.Status.OPEN:
        return False
    slots = Slot.objects.filter(session_id=leftover.session_id)
    slot = slots.select_related("vaccine", "site").first()
    return slot is not None and not dose2_options(slot=slot, now=now)


def site_leftovers(*, site_id: int, limit: int = 20) -> list[Leftover]:
    """A site's latest declarations, newest first."""
    return list(Leftover.objects.select_related("vaccine").filter(site_id=site_id)[:limit])


def contact_entries(*, contact: Contact) -> list[WaitlistEntry]:
    """A contact's active entries (the portal's page, the call centre's caller)."""
    return list(
        WaitlistEntry.objects.filter(contact=contact, status=WaitlistEntry.Status.ACTIVE)
        .prefetch_related("vaccines")
        .order_by("joined_at")
    )
