from datetime import time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creneau.core.errors import InvalidInput
from creneau.core.geo import Position, distance_km
from creneau.scheduling.models import Slot
from creneau.scheduling.selectors import (
    availability_filter_build,
    availability_search,
    site_calendar,
    slot_list_available,
    slots_next,
)
from creneau.scheduling.services import availability_refresh
from creneau.sites.models import Site
from tests.factories import deliver, make_site, open_session, tomorrow

PARIS_17 = Position(48.88734, 2.30749)


def stocked_site(**fields) -> Site:
    site = make_site(**fields)
    deliver(site, 1000)
    deliver(site, 1000, code="janssen")
    return site


def test_sites_with_slots_come_first_each_group_by_distance(reference):
    near_empty = stocked_site(name="near, no slot", latitude=48.8874, longitude=2.3075)
    far_open = stocked_site(name="far, open", latitude=48.95, longitude=2.3075)
    mid_open = stocked_site(name="mid, open", latitude=48.90, longitude=2.3075)
    open_session(far_open)
    open_session(mid_open)
    results = availability_search(origin=PARIS_17, radius_km=20)
    assert [r.site for r in results] == [mid_open, far_open, near_empty]
    assert results[0].available_slots == 12
    assert results[0].next_slot_at == mid_open.slots.order_by("start").first().start
    assert results[2].available_slots == 0 and results[2].next_slot_at is None
    assert results[0].distance_km == pytest.approx(1.4, abs=0.1)


def test_radius_limit_and_unpublished_sites(reference):
    stocked_site(name="in Paris")
    stocked_site(name="Marseille", insee_code="13201")
    make_site(name="draft", status=Site.Status.DRAFT)
    make_site(name="closed", status=Site.Status.CLOSED)
    make_site(
        name="scheduled, due",
        status=Site.Status.DRAFT,
        publish_at=timezone.now() - timedelta(minutes=1),
    )
    make_site(
        name="scheduled, later",
        status=Site.Status.DRAFT,
        publish_at=timezone.now() + timedelta(hours=1),
    )
    names = {r.site.name for r in availability_search(origin=PARIS_17, radius_km=50)}
    assert names == {"in Paris", "scheduled, due"}
    assert len(availability_search(origin=PARIS_17, radius_km=300, limit=1)) == 1


def test_filters_by_vaccine_dose_and_dates(reference):
    site = stocked_site()
    open_session(site, code="janssen", day=tomorrow(3))
    open_session(site, dose_number=2, day=tomorrow(5))
    search = availability_search

    def free(**filters):
        wanted = availability_filter_build(**filters)
        return search(origin=PARIS_17, radius_km=5, wanted=wanted)[0].available_slots

    assert free() == 24
    assert free(vaccine_code="janssen") == 12
    assert free(vaccine_code="comirnaty", dose_number=1) == 0
    assert free(dose_number=2) == 12
    assert free(date_from=tomorrow(4)) == 12
    assert free(date_to=tomorrow(4)) == 12
    assert free(date_from=tomorrow(6)) == 0


def test_full_and_past_slots_are_not_offered(reference):
    site = stocked_site()
    session = open_session(site, lines=1, start=time(9), end=time(9, 20))
    first, second = session.slots.order_by("start")
    Slot.objects.filter(pk=first.pk).update(booked=1)
    availability_refresh(
        site_id=site.pk, vaccine_id=session.vaccine_id, dose_number=1, days=[session.date]
    )
    result = availability_search(origin=PARIS_17, radius_km=5)[0]
    assert (result.available_slots, result.next_slot_at) == (1, second.start)
    # Seen from after the second slot has started, nothing is left that day.
    later = second.start + timedelta(minutes=1)
    assert availability_search(origin=PARIS_17, radius_km=5, now=later)[0].available_slots == 0
    # Seen from between the two, only the second counts, recounted from the slots.
    between = first.start + timedelta(minutes=5)
    Slot.objects.filter(pk=first.pk).update(booked=0)
    availability_refresh(
        site_id=site.pk, vaccine_id=session.vaccine_id, dose_number=1, days=[session.date]
    )
    result = availability_search(origin=PARIS_17, radius_km=5, now=between)[0]
    assert (result.available_slots, result.next_slot_at) == (1, second.start)
    assert [s.pk for s in slot_list_available(site_id=site.pk, now=between)] == [second.pk]


def test_a_begun_day_is_recounted_per_vaccine_and_dose_never_twice(reference):
    site = stocked_site()
    morning = open_session(site, start=time(9), end=time(10), lines=1)  # dose 1: 6 places
    open_session(site, start=time(14), end=time(15), lines=1, dose_number=2)  # 6 places
    first_slot = morning.slots.order_by("start").first()
    during_the_first_slot = first_slot.start + timedelta(minutes=5)
    result = availability_search(origin=PARIS_17, radius_km=5, now=during_the_first_slot)[0]
    assert result.available_slots == 5 + 6
    assert result.next_slot_at == first_slot.start + timedelta(minutes=10)


@pytest.mark.parametrize(
    "filters",
    [
        {"vaccine_code": "sputnik"},
        {"dose_number": 0},
        {"dose_number": 9},
        {"date_from": tomorrow(-10)},
        {"date_from": tomorrow(5), "date_to": tomorrow(2)},
        {"date_from": tomorrow(1), "date_to": tomorrow(800)},
    ],
)
def test_bad_filters_are_refused(reference, filters):
    with pytest.raises(InvalidInput):
        availability_filter_build(**filters)


@pytest.mark.parametrize(("radius", "limit"), [(0, 10), (-5, 10), (301, 10), (10, 0), (10, 101)])
def test_absurd_ranges_are_refused(reference, radius, limit):
    with pytest.raises(InvalidInput):
        availability_search(origin=PARIS_17, radius_km=radius, limit=limit)


offsets = st.tuples(st.floats(-0.6, 0.6), st.floats(-0.9, 0.9), st.booleans())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    places=st.lists(offsets, min_size=1, max_size=30),
    radius=st.sampled_from([3, 12, 30, 70]),
    limit=st.integers(1, 8),
)
def test_ring_search_returns_what_a_scan_of_every_site_would(reference, places, radius, limit):
    with transaction.atomic():
        sites = []
        for index, (dlat, dlon, has_slots) in enumerate(places):
            site = make_site(
                name=f"site {index}",
                latitude=PARIS_17.latitude + dlat,
                longitude=PARIS_17.longitude + dlon,
            )
            if has_slots:
                deliver(site, 100)
                open_session(site, lines=1)
            distance = distance_km(PARIS_17, Position(site.latitude, site.longitude))
            if distance <= radius:
                sites.append((not has_slots, distance, site.pk))
        found = availability_search(origin=PARIS_17, radius_km=radius, limit=limit)
        assert [r.site.pk for r in found] == [pk for _, _, pk in sorted(sites)][:limit]
        transaction.set_rollback(True)


def test_the_site_calendar_does_not_count_places_that_have_begun(reference):
    site = stocked_site()
    session = open_session(site, start=time(9), end=time(10), lines=1)
    open_session(site, code="janssen", day=tomorrow(2), lines=1)
    first_slot = session.slots.order_by("start").first()
    during_the_first_slot = first_slot.start + timedelta(minutes=5)
    days = site_calendar(site=site, now=during_the_first_slot)
    assert [(d.date, d.vaccine_code, d.dose_number, d.free) for d in days] == [
        (tomorrow(), "comirnaty", 1, 5),
        (tomorrow(2), "janssen", 1, 6),
    ]


def test_next_slots_of_several_sites_in_one_query_match_each_sites_own_list(
    reference, django_assert_num_queries
):
    early, late = stocked_site(name="early"), stocked_site(name="late")
    open_session(early, start=time(9, 0), end=time(10, 0))
    open_session(late, day=tomorrow(3), start=time(14, 0), end=time(15, 0))
    full = Slot.objects.filter(site=early).order_by("start").first()
    Slot.objects.filter(pk=full.pk).update(booked=full.capacity)
    results = availability_search(origin=PARIS_17, radius_km=20)
    with django_assert_num_queries(1):
        next_slots = slots_next(first_free={r.site.pk: r.next_slot_at for r in results}, per_site=4)
    for site in (early, late):
        assert next_slots[site.pk] == slot_list_available(site_id=site.pk)[:4]
    assert full.pk not in [slot.pk for slot in next_slots[early.pk]]


def test_a_result_names_the_products_it_has_free_places_for_begun_days_included(reference):
    site = stocked_site()
    session = open_session(site, start=time(9), end=time(10), lines=1)
    open_session(site, code="janssen", day=tomorrow(2), lines=1)
    first_slot = session.slots.order_by("start").first()

    assert availability_search(origin=PARIS_17, radius_km=5)[0].vaccines == (
        "COVID-19 Vaccine Janssen",
        "Comirnaty",
    )
    # Comirnaty's day has begun: recounted from its slots, it is still named.
    during_the_first_slot = first_slot.start + timedelta(minutes=5)
    result = availability_search(origin=PARIS_17, radius_km=5, now=during_the_first_slot)[0]
    assert result.vaccines == ("COVID-19 Vaccine Janssen", "Comirnaty")
    assert result.available_slots == 5 + 6
    # Only Janssen when asked for it.
    wanted = availability_filter_build(vaccine_code="janssen")
    only = availability_search(origin=PARIS_17, radius_km=5, wanted=wanted)[0]
    assert only.vaccines == ("COVID-19 Vaccine Janssen",)
