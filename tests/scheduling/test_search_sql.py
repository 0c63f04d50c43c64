"""Search, a site's calendar and its free slots, written by hand (issue 15), against what
the slots themselves say: on a varied set of sites (public, scheduled, draft, closed, near
and far), products, doses and days, seen from several moments of a day (before it, with
places begun, late) and through every filter, the 24-hour one included. Runs on SQLite and
on PostgreSQL (scripts/with-postgres.sh)."""

from collections import defaultdict
from datetime import datetime, time, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from creneau.core.geo import Position, distance_km
from creneau.scheduling.models import Slot
from creneau.scheduling.selectors import (
    availability_filter_build,
    availability_search,
    site_calendar,
    slot_list_available,
)
from creneau.scheduling.services import availability_refresh
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q
from tests.factories import deliver, make_site, open_session, tomorrow

PARIS_17 = Position(48.88734, 2.30749)
DAY = tomorrow()


def _site(name: str, latitude: float, **fields) -> Site:
    site = make_site(name=name, latitude=latitude, longitude=2.3075, **fields)
    deliver(site, 1000)
    deliver(site, 1000, code="janssen")
    return site


def _book(slots, every: int) -> None:
    """Fill every `every`-th slot, and half of the others' places, as bookings would."""
    for n, slot in enumerate(slots):
        Slot.objects.filter(pk=slot.pk).update(booked=slot.capacity if n % every == 0 else 1)


@pytest.fixture
def varied(reference):
    now = timezone.now()
    near = _site("near", 48.8874)
    mid = _site("mid", 48.90)
    far = _site("far", 48.99)
    beyond = _site("beyond the radius", 49.5)
    due = _site("scheduled, due", 48.895, status=Site.Status.DRAFT, publish_at=now)
    _site("scheduled, later", 48.891, status=Site.Status.DRAFT, publish_at=now + timedelta(days=9))
    _site("draft", 48.892, status=Site.Status.DRAFT)
    _site("closed", 48.893, status=Site.Status.CLOSED)
    empty = _site("no session", 48.8875)
    for site in (near, mid, far, beyond, due):
        open_session(site, day=DAY, start=time(9), end=time(11), lines=2)
        open_session(site, day=DAY, start=time(15), end=time(16), lines=1, code="janssen")
        open_session(site, day=DAY + timedelta(days=1), start=time(8), end=time(9), lines=3)
        open_session(site, day=DAY + timedelta(days=3), start=time(9), end=time(10), dose_number=2)
    # Some places taken, some days full: the read model recounted as the services do.
    _book(near.slots.filter(date=DAY).order_by("start"), every=2)
    _book(mid.slots.filter(date=DAY + timedelta(days=1)).order_by("start"), every=1)
    _book(far.slots.filter(dose_number=2).order_by("start"), every=3)
    for site in (near, mid, far):
        for vaccine_id, dose, day in set(
            site.slots.values_list("vaccine_id", "dose_number", "date")
        ):
            availability_refresh(
                site_id=site.pk, vaccine_id=vaccine_id, dose_number=dose, days=[day]
            )
    return {"sites": [near, mid, far, beyond, due, empty]}


def _moments() -> list[datetime]:
    def local(day, hour, minute=0):
        return timezone.make_aware(datetime.combine(day, time(hour, minute)))

    return [
        timezone.now(),
        local(DAY, 8, 30),
        local(DAY, 9, 35),  # the morning's places begun
        local(DAY, 15, 5),  # the morning gone, the afternoon begun
        local(DAY, 23),
        local(DAY + timedelta(days=1), 8, 15),
    ]


def _filters(now: datetime) -> list[dict]:
    return [
        {},
        {"vaccine_code": "comirnaty"},
        {"vaccine_code": "janssen", "dose_number": 1},
        {"dose_number": 2},
        {"date_from": DAY + timedelta(days=1), "date_to": DAY + timedelta(days=3)},
        {"within_24h": True},
        {"within_24h": True, "vaccine_code": "comirnaty", "dose_number": 1},
    ]


def _free_slots(wanted, now: datetime):
    slots = Slot.objects.filter(booked__lt=F("capacity"), start__gte=now)
    if wanted.starts_before is not None:
        slots = slots.filter(start__lt=wanted.starts_before)
    for name, value in (
        ("vaccine_id", wanted.vaccine_id),
        ("dose_number", wanted.dose_number),
        ("date__gte", wanted.date_from),
        ("date__lte", wanted.date_to),
    ):
        if value is not None:
            slots = slots.filter(**{name: value})
    return slots.select_related("vaccine")


def _expected_search(wanted, now: datetime, radius_km: float, limit: int):
    """The nearest public sites from their slots alone: those with free places first."""
    figures = defaultdict(lambda: [0, None, set()])
    for slot in _free_slots(wanted, now):
        known = figures[slot.site_id]
        known[0] += slot.capacity - slot.booked
        known[1] = min(known[1] or slot.start, slot.start)
        known[2].add((slot.vaccine.name, slot.vaccine.code))
    distances = {
        site.pk: distance_km(PARIS_17, Position(site.latitude, site.longitude))
        for site in Site.objects.filter(public_sites_q(now=now))
    }
    distances = {pk: d for pk, d in distances.items() if d <= radius_km}
    with_slots = sorted((pk for pk in distances if pk in figures), key=distances.get)
    without = sorted((pk for pk in distances if pk not in figures), key=distances.get)
    expected = []
    for pk in (with_slots + without)[:limit]:
        free, first, products = figures.get(pk, (0, None, set()))
        names = tuple(name for name, _ in sorted(products))
        codes = tuple(code for _, code in sorted(products))
        expected.append((pk, round(distances[pk], 2), free, first, names, codes))
    return expected


def test_search_finds_what_the_slots_say_at_every_moment_and_filter(varied):
    compared = 0
    for now in _moments():
        for filters in _filters(now):
            wanted = availability_filter_build(**filters, now=now)
            for radius_km, limit in ((50, 100), (20, 2), (5, 1)):
                found = [
                    (
                        r.site.pk,
                        r.distance_km,
                        r.available_slots,
                        r.next_slot_at,
                        r.vaccines,
                        r.vaccine_codes,
                    )
                    for r in availability_search(
                        origin=PARIS_17, radius_km=radius_km, wanted=wanted, limit=limit, now=now
                    )
                ]
                assert found == _expected_search(wanted, now, radius_km, limit), (now, filters)
                compared += 1
    assert compared == len(_moments()) * len(_filters(timezone.now())) * 3


def test_search_results_carry_the_whole_site_and_its_commune(varied):
    result = availability_search(origin=PARIS_17, radius_km=5)[0]
    site = Site.objects.select_related("commune").get(pk=result.site.pk)
    for field in Site._meta.concrete_fields:
        assert getattr(result.site, field.attname) == getattr(site, field.attname), field.name
    assert result.site.commune.name == site.commune.name
    assert result.site.get_kind_display() == site.get_kind_display()


def test_a_site_calendar_and_its_free_slots_are_what_the_slots_say(varied):
    for now in _moments():
        for filters in _filters(now):
            wanted = availability_filter_build(**filters, now=now)
            for site in varied["sites"]:
                days = defaultdict(int)
                for slot in _free_slots(wanted, now).filter(site=site):
                    days[(slot.date, slot.vaccine.code, slot.dose_number)] += (
                        slot.capacity - slot.booked
                    )
                calendar = site_calendar(site=site, wanted=wanted, now=now)
                assert [
                    (d.date, d.vaccine_code, d.dose_number, d.free) for d in calendar
                ] == sorted((day, code, dose, free) for (day, code, dose), free in days.items()), (
                    site.name,
                    now,
                    filters,
                )
                free = list(_free_slots(wanted, now).filter(site=site).order_by("start", "pk"))
                first_day = free[0].date if free else None
                listed = slot_list_available(site_id=site.pk, wanted=wanted, now=now)
                assert [
                    (s.pk, s.date, s.start, s.end, s.vaccine_code, s.available) for s in listed
                ] == [
                    (s.pk, s.date, s.start, s.end, s.vaccine.code, s.capacity - s.booked)
                    for s in free
                    if s.date == first_day
                ], (site.name, now, filters)


def test_only_a_public_sites_free_slots_are_listed(varied):
    from creneau.core.errors import NotFound

    for site in Site.objects.all():
        public = Site.objects.filter(public_sites_q(), pk=site.pk).exists()
        if public:
            slot_list_available(site_id=site.pk)
        else:
            with pytest.raises(NotFound):
                slot_list_available(site_id=site.pk)
    assert Site.objects.exclude(public_sites_q()).count() == 3


@pytest.mark.parametrize("site_id", [0, 2**63, 10**30])
def test_an_id_no_column_holds_is_a_site_not_found(varied, site_id):
    from creneau.core.errors import NotFound

    with pytest.raises(NotFound):
        slot_list_available(site_id=site_id)
