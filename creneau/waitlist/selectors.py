"""Reads of the waiting list: who is offered a leftover dose (the wave's candidates, in the
authority's priority order), an offer or an entry from its link, a site's leftovers for
its staff."""

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Case,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import ASin, Cast, Cos, Least, Sin, Sqrt
from django.utils import timezone
from django.utils.translation import gettext

from creneau.booking.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Contact, Series
from creneau.core.errors import NotFound
from creneau.core.geo import EARTH_RADIUS_KM, Position, grid_cell_ranges
from creneau.eligibility.selectors import Candidate, eligibility_decide
from creneau.geography.selectors import department_timezone
from creneau.scheduling.models import DayAvailability, Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

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


@dataclass(frozen=True)
class Dose2Cover:
    """A two-dose product's second-dose places free at a site inside the interval after a
    dose 1 given on a day (`first` to `last`): each leftover dose offered books one with
    its dose 1 (booking keeps a course's two doses at one site, and never a dose 1 without
    its dose 2), so no more leftover doses than these can be offered there."""

    vaccine: Vaccine
    places: int
    first: date
    last: date


def dose2_cover(*, site_id: int, vaccine: Vaccine, day: date, now: datetime) -> Dose2Cover | None:
    """The second-dose places free at the site for a dose 1 of `vaccine` on `day` (the read
    model, one query), read again each time: a session opened since counts at once. None
    for a one-dose product."""
    if vaccine.doses_in_series < 2:
        return None
    first = day + timedelta(days=vaccine.interval_min_days)
    last = day + timedelta(days=vaccine.interval_max_days)
    free = DayAvailability.objects.filter(
        site_id=site_id,
        vaccine_id=vaccine.pk,
        dose_number=2,
        date__gte=first,
        date__lte=last,
        last_free_start__gt=now,
    ).aggregate(free=Sum("free"))["free"]
    return Dose2Cover(vaccine=vaccine, places=free or 0, first=first, last=last)


def leftover_dose2_cover(*, leftover: Leftover, now: datetime) -> Dose2Cover | None:
    return dose2_cover(
        site_id=leftover.site_id, vaccine=leftover.vaccine, day=leftover.session.date, now=now
    )


def site_dose2_covers(
    *, site: Site, vaccine_ids: list[int], day: date, now: datetime
) -> list[Dose2Cover]:
    """For the declaration page: the second-dose places at the site for a dose 1 on `day`
    of each two-dose product among `vaccine_ids` (those it has doses of), so that the staff
    know before declaring how many leftover doses of it can be offered."""
    two_doses = Vaccine.objects.filter(pk__in=vaccine_ids, doses_in_series__gte=2)
    return [
        dose2_cover(site_id=site.pk, vaccine=vaccine, day=day, now=now)
        for vaccine in two_doses.order_by("name")
    ]


def _distance_sql(centre: Position) -> CombinedExpression:
    """core.geo.distance_km (haversine) from `centre` to each entry's position, in SQL."""
    degree = math.pi / 180
    latitude, longitude = centre.latitude * degree, centre.longitude * degree
    half_lat = Sin((F("latitude") * degree - latitude) / 2)
    half_lon = Sin((F("longitude") * degree - longitude) / 2)
    h = half_lat * half_lat + math.cos(latitude) * Cos(F("latitude") * degree) * half_lon * half_lon
    return 2 * EARTH_RADIUS_KM * ASin(Least(Value(1.0), Sqrt(h)))


def _box_sql(centre: Position) -> Q:
    """Each entry's own box around `centre`, as wide as its radius: plain comparisons,
    which the database tests before the distance's trigonometry (a point within r km lies
    within r/R radians of latitude, and of longitude r/(R cos φ), φ the widest latitude;
    no French place lies within 30 km of the antimeridian)."""
    per_km = 180 / (math.pi * EARTH_RADIUS_KM)
    widest = min(89.0, abs(centre.latitude) + MAX_RADIUS_KM * per_km)
    lat_span = F("radius_km") * per_km
    lon_span = F("radius_km") * (per_km / math.cos(math.radians(widest)))
    return Q(
        latitude__gte=centre.latitude - lat_span,
        latitude__lte=centre.latitude + lat_span,
        longitude__gte=centre.longitude - lon_span,
        longitude__lte=centre.longitude + lon_span,
    )


def _rank_sql(*, bands: list[PriorityBand], year: int) -> Case:
    """The rank of the age band of the age reached in `year` (bands by decreasing
    `min_age`); after every band when none covers them."""
    return Case(
        *(When(birth_year__lte=year - band.min_age, then=Value(band.rank)) for band in bands),
        default=Value(len(bands) + 1000),
        output_field=IntegerField(),
    )


def wave_candidates(*, leftover: Leftover, now: datetime, limit: int) -> list[WaveCandidate]:
    """The next `limit` people to offer one of `leftover`'s places, in the authority's
    order (age band, then distance, then time on the list): on the list and not yet
    offered these doses nor holding a live offer, within their own radius of the site,
    accepting its vaccine, able to come before the last place ends (their notice and
    their windows), eligible for a first dose of it there today, reachable by SMS or
    e-mail, and without a course unless its dose 1 is booked after the leftover places.

    Tens of thousands may wait around a city: the database selects and orders them (the
    grid cells within 30 km on their index, the exact distance to each against its own
    radius, the age band from the birth year) and answers `limit` at a time; only the
    windows of those read are tested here, and only the people who pass are opened
    (decrypted) and asked about eligibility."""
    site: Site = leftover.site
    centre = Position(site.latitude, site.longitude)
    slots = leftover_free_slots(leftover=leftover, now=now)
    if not slots or limit <= 0:
        return []
    tz = department_timezone(department_code=site.department_id)
    latest = slots[-1].end.astimezone(tz)
    arrivals = {
        minutes: (now + timedelta(minutes=minutes)).astimezone(tz) for minutes in NOTICE_MINUTES
    }
    notices = [minutes for minutes, arrival in arrivals.items() if arrival < latest]
    if not notices:
        return []
    cells = Q()
    for low, high in grid_cell_ranges(centre, MAX_RADIUS_KM):
        cells |= Q(grid_cell__gte=low, grid_cell__lte=high)
    today = now.astimezone(tz).date()
    bands = list(PriorityBand.objects.order_by("-min_age"))
    # A course stops an offer unless its dose 1 is still booked after the leftover places
    # (taking one then moves it earlier; the contact is checked on accept).
    dose1_later = Appointment.objects.filter(
        series=OuterRef("pk"),
        dose_number=1,
        status=Appointment.Status.BOOKED,
        slot__start__gt=leftover.until,
    )
    ordered = (
        WaitlistEntry.objects.filter(
            cells,
            _box_sql(centre),
            status=WaitlistEntry.Status.ACTIVE,
            expires_at__gt=now,
            notice_minutes__in=notices,
            contact__channel__in=OFFER_CHANNELS,
        )
        .filter(
            Exists(
                WaitlistEntry.vaccines.through.objects.filter(
                    waitlistentry_id=OuterRef("pk"), vaccine_id=leftover.vaccine_id
                )
            )
        )
        # Offered these doses already, or another offer still running (one at a time).
        .exclude(
            Exists(
                Offer.objects.filter(
                    Q(leftover_id=leftover.pk)
                    | Q(status=Offer.Status.OFFERED, answered_at__isnull=True, expires_at__gt=now),
                    entry_id=OuterRef("pk"),
                )
            )
        )
        .exclude(
            Exists(
                Series.objects.filter(
                    person_key=OuterRef("person_key"), status=Series.Status.ACTIVE
                ).exclude(Exists(dose1_later))
            )
        )
        .annotate(distance=_distance_sql(centre), rank=_rank_sql(bands=bands, year=today.year))
        .filter(distance__lte=F("radius_km"))
        # Its text: most people give the same windows, each tested once below.
        .annotate(windows_text=Cast("windows", TextField()))
        .order_by("rank", "distance", "joined_at", "pk")
        .values_list("pk", "distance", "rank", "notice_minutes", "windows_text")
    )
    fits: dict[tuple[str, int], bool] = {}
    found: list[WaveCandidate] = []
    offset, size = 0, limit
    while True:
        page = list(ordered[offset : offset + size])
        able = {}
        for pk, distance, rank, notice, windows in page:
            if (windows, notice) not in fits:
                fits[(windows, notice)] = window_fits(
                    windows=json.loads(windows), arrival=arrivals[notice], latest=latest
                )
            if fits[(windows, notice)]:
                able[pk] = (distance, rank)
        entries = WaitlistEntry.objects.select_related("contact").in_bulk(list(able))
        for pk, (distance, rank) in able.items():
            entry = entries[pk]
            decision = eligibility_decide(
                candidate=Candidate(
                    birth_date=entry.birth_date, categories=frozenset(entry.categories)
                ),
                vaccine=leftover.vaccine,
                dose_number=1,
                site=site,
                on=today,
                # The leftover doses are given now: a rule for places starting soon admits.
                at=now,
                now=now,
            )
            if decision.eligible:
                found.append(WaveCandidate(entry=entry, distance_km=distance, rank=rank))
                if len(found) == limit:
                    return found
        if len(page) < size:
            return found
        # Some could not come or may not have it: the next ones, twice as many.
        offset, size = offset + size, 2 * size


def offer_get(*, offer_id: int) -> Offer:
    """An offer with what its page shows; "not found" as for a forged link."""
    offer = (
        Offer.objects.select_related(
            "leftover__site", "leftover__vaccine", "entry__contact", "slot", "series"
        )
        .filter(pk=offer_id)
        .first()
    )
    if offer is None:
        raise NotFound(gettext("Ce lien de proposition n'est pas valable."))
    return offer


def offer_from_token(*, token: str) -> Offer:
    """The offer a link names; the same "not found" for a forged key and a missing offer."""
    offer_id = tokens.offer_id_read(token=token)
    if offer_id is None:
        raise NotFound(gettext("Ce lien de proposition n'est pas valable."))
    return offer_get(offer_id=offer_id)


def entry_get(*, entry_id: int) -> WaitlistEntry:
    entry = WaitlistEntry.objects.filter(pk=entry_id).first()
    if entry is None:
        raise NotFound(gettext("Ce lien d'inscription n'est pas valable."))
    return entry


def entry_from_token(*, token: str) -> WaitlistEntry:
    entry_id = tokens.entry_id_read(token=token)
    if entry_id is None:
        raise NotFound(gettext("Ce lien d'inscription n'est pas valable."))
    return entry_get(entry_id=entry_id)


@dataclass(frozen=True)
class LeftoverBoard:
    """What a site's staff see of one declaration: offered, accepted, still free."""

    leftover: Leftover
    offers: list[Offer]
    offered: int
    accepted: int
    free: int
    # A two-dose product's second-dose places at the site in the interval (None: one
    # dose): a wave offers no more places than these (booking never leaves a dose 1
    # without its dose 2); the staff are told when they are fewer than the places free.
    dose2: Dose2Cover | None
    # Each offer with, once accepted for a two-dose product, the slot of its dose 2 (its
    # site and time): the staff see where and when each person comes back.
    rows: list[tuple[Offer, Slot | None]]

    @property
    def offerable(self) -> int:
        """The places free that can be offered: each needs its dose 2 at the site."""
        return self.free if self.dose2 is None else min(self.free, self.dose2.places)

    @property
    def dose2_short(self) -> bool:
        """Places free that cannot be offered for want of second-dose places."""
        return self.offerable < self.free


def leftover_board(*, site_id: int, leftover_id: int, now: datetime | None = None) -> LeftoverBoard:
    """One of a site's declarations with its offers (names, arrival times, the dose 2 of
    each person who accepted): another site's or a missing one is the same 404."""
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
    accepted = [o for o in offers if o.status == Offer.Status.ACCEPTED]
    dose2 = {
        appointment.series_id: appointment.slot
        for appointment in Appointment.objects.filter(
            series_id__in=[o.series_id for o in accepted if o.series_id],
            dose_number=2,
            status__in=ACTIVE_APPOINTMENT_STATUSES,
        ).select_related("slot__site")
    }
    return LeftoverBoard(
        leftover=leftover,
        offers=offers,
        offered=len(live),
        accepted=len(accepted),
        free=free if leftover.status == Leftover.Status.OPEN else 0,
        dose2=leftover_dose2_cover(leftover=leftover, now=now),
        rows=[
            (o, dose2.get(o.series_id) if o.status == Offer.Status.ACCEPTED else None)
            for o in offers
        ],
    )


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
