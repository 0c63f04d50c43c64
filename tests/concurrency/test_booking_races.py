"""Many clients booking the same few places at once, on a real SQLite file and on
PostgreSQL, with threads and with processes. Afterwards every invariant is recounted
from the tables."""

import uuid
from datetime import date, time, timedelta

import pytest
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from creneau.booking.models import Appointment, Cancellation, Hold, IdempotencyKey, Series
from creneau.booking.selectors import dose1_elsewhere_check
from creneau.booking.services import (
    BookingResult,
    PersonData,
    booking_cancel,
    booking_confirm,
    booking_move,
    cancellation_create,
    hold_create,
)
from creneau.core.errors import DomainError
from creneau.outreach.models import Notification
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Stock
from tests.checks import assert_read_model_equals_a_recount
from tests.concurrency.racers import race_processes, race_threads
from tests.factories import STAFF, deliver, make_site, open_session, tomorrow, verified_contact

pytestmark = pytest.mark.concurrency


def someone(number: int) -> PersonData:
    return PersonData(
        given_name=f"Personne {number}", family_name="Martin", birth_date=date(1950, 1, 1)
    )


def small_site(*, dose1_lines: int = 2, dose2_lines: int = 50, doses: int = 1000):
    """Three first-dose slots tomorrow; second-dose slots six weeks later."""
    site = make_site()
    deliver(site, doses)
    day = tomorrow()
    dose1 = open_session(site, day=day, end=time(9, 30), lines=dose1_lines)
    open_session(
        site, day=day + timedelta(days=42), end=time(9, 30), lines=dose2_lines, dose_number=2
    )
    return site, list(dose1.slots.order_by("start"))


# Statuses of an appointment that keep its place in the slot: a no-show's place was not
# given back (its time has passed), nor was a place whose dose was given.
PLACE_KEPT = ("booked", "arrived", "fulfilled", "noshow")
ACTIVE = ("booked", "arrived")


def _doses_given_back(stock: Stock) -> int:
    """A course that ended after its first dose was given or missed gave back the doses
    its first-dose place promised beyond those it was given."""
    given_back = 0
    for first in (
        Appointment.objects.filter(
            dose_number=1,
            status__in=("fulfilled", "noshow"),
            slot__site=stock.site_id,
            slot__vaccine=stock.vaccine_id,
        )
        .exclude(series__status="active")
        .select_related("slot__session")
    ):
        given = Appointment.objects.filter(series=first.series_id, status="fulfilled").count()
        given_back += first.slot.session.doses_per_place - given
    return given_back


def assert_invariants() -> None:
    """Invariants 1 to 5 and 7, recounted from the tables (after the day's work at the
    site too: check-ins, doses given, no-shows)."""
    assert not Slot.objects.filter(booked__gt=F("capacity")).exists()
    for slot in Slot.objects.annotate(
        kept=Count("appointments", filter=Q(appointments__status__in=PLACE_KEPT))
    ):
        holds = Hold.objects.filter(Q(slot=slot) | Q(dose2_slot=slot)).count()
        assert slot.booked == slot.kept + holds, slot.pk
    for stock in Stock.objects.all():
        assert stock.committed + stock.given <= stock.delivered
        promised = Slot.objects.filter(site=stock.site_id, vaccine=stock.vaccine_id).aggregate(
            doses=Sum(F("capacity") * F("session__doses_per_place"))
        )["doses"]
        # A course begun elsewhere promised its one dose when it was booked, and gave it
        # back if it was cancelled before its dose was given.
        promised = (promised or 0) + Series.objects.filter(
            site=stock.site_id, vaccine=stock.vaccine_id, dose1_elsewhere_on__isnull=False
        ).exclude(status="cancelled").count()
        assert stock.committed + stock.given == promised - _doses_given_back(stock)
    for series in Series.objects.filter(status="active", dose1_elsewhere_on__isnull=False):
        # Begun elsewhere: never a dose 1 here, one dose 2 inside the interval after it.
        assert not series.appointments.filter(dose_number=1).exists(), series.pk
        for dose2 in series.appointments.filter(status__in=ACTIVE).select_related("slot"):
            gap = (dose2.slot.date - series.dose1_elsewhere_on).days
            assert series.vaccine.interval_min_days <= gap <= series.vaccine.interval_max_days
    for series in Series.objects.filter(
        status="active", dose1_elsewhere_on__isnull=True
    ).select_related("vaccine"):
        doses = {
            a.dose_number: a
            for a in series.appointments.select_related("slot").filter(
                status__in=(*ACTIVE, "fulfilled")
            )
        }
        assert 1 in doses, series.pk
        # Once dose 1 is given, the course may wait for a new dose-2 date.
        if doses[1].status != "fulfilled":
            assert set(doses) == {1, 2}, series.pk
        if 2 in doses:
            gap = (doses[2].slot.date - doses[1].slot.date).days
            assert series.vaccine.interval_min_days <= gap <= series.vaccine.interval_max_days
            assert doses[1].slot.site_id == doses[2].slot.site_id == series.site_id
    assert not (
        Series.objects.filter(status="active")
        .values("person")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not (
        Appointment.objects.filter(status__in=ACTIVE)
        .values("series", "dose_number")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    for series in Series.objects.annotate(
        dose2_dates=Count("appointments", filter=Q(appointments__dose_number=2))
    ):
        confirmed = Notification.objects.filter(
            event__startswith=f"series:{series.reference}:", kind="booking_confirmed"
        )
        # One for the booking, one more for each new second-dose date given later.
        assert confirmed.count() == max(1, series.dose2_dates), series.pk
    assert_read_model_equals_a_recount()


def hold_and_book(slot_ids, contact, number):
    """What a client does: try the slots in turn until one can be held, then book."""
    refusal = None
    for slot_id in slot_ids:
        try:
            hold = hold_create(slot_id=slot_id).hold
        except DomainError as error:
            refusal = error
            continue
        return booking_confirm(
            hold_id=hold.pk,
            contact=contact,
            person=someone(number),
            idempotency_key=str(uuid.uuid4()),
        )
    raise refusal


def test_a_hundred_threads_racing_for_six_places_book_exactly_six(reference_committed):
    _site, slots = small_site(dose1_lines=2)
    contacts = [verified_contact(f"+336000000{i:02d}") for i in range(100)]
    results = race_threads(100, lambda i: hold_and_book([s.pk for s in slots], contacts[i], i))
    booked = [r for r in results if isinstance(r, BookingResult)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(booked) == 6, results
    assert len(refused) == 94 and {r.code for r in refused} == {"slot_unavailable"}, results
    assert Series.objects.count() == 6
    assert_invariants()


def test_when_second_doses_run_out_no_first_dose_is_booked_alone(reference_committed):
    _site, slots = small_site(dose1_lines=20, dose2_lines=1)  # 60 first-dose places, 3 second
    contacts = [verified_contact(f"+336000001{i:02d}") for i in range(40)]
    results = race_threads(40, lambda i: hold_and_book([s.pk for s in slots], contacts[i], i))
    booked = [r for r in results if isinstance(r, BookingResult)]
    assert len(booked) == 3, results
    assert {r.code for r in results if isinstance(r, DomainError)} == {"dose2_unavailable"}
    assert Slot.objects.filter(dose_number=1).aggregate(n=Sum("booked"))["n"] == 3
    assert_invariants()


def test_people_whose_dose_1_was_given_elsewhere_racing_for_the_last_doses_book_only_those(
    reference_committed,
):
    """A second-dose place promises no dose: a dose 2 booked alone promises its own from
    the stock not yet promised, by a conditional update. Three doses, twenty people."""
    site = make_site()
    deliver(site, 3)
    session = open_session(site, day=tomorrow(2), end=time(9, 30), lines=10, dose_number=2)
    slot_ids = list(session.slots.values_list("pk", flat=True))
    declared = dose1_elsewhere_check(
        vaccine_code="comirnaty",
        given_on=timezone.localdate() - timedelta(days=20),
        today=timezone.localdate(),
    )
    contacts = [verified_contact(f"+336000003{i:02d}") for i in range(20)]

    def book(index):
        hold = hold_create(slot_id=slot_ids[index % len(slot_ids)], dose1_elsewhere=declared)
        return booking_confirm(
            hold_id=hold.hold.pk,
            contact=contacts[index],
            person=someone(index),
            idempotency_key=str(uuid.uuid4()),
        )

    results = race_threads(20, book)
    booked = [r for r in results if isinstance(r, BookingResult)]
    assert len(booked) == 3, results
    assert {r.code for r in results if isinstance(r, DomainError)} == {"stock_insufficient"}
    stock = Stock.objects.get(site=site)
    assert (stock.delivered, stock.committed) == (3, 3)
    # The refused gave their places back at once.
    assert not Hold.objects.exists()
    assert Slot.objects.aggregate(n=Sum("booked"))["n"] == 3
    assert_invariants()


def test_the_same_request_sent_twenty_times_at_once_books_once(reference_committed):
    _site, slots = small_site()
    contact = verified_contact()
    hold = hold_create(slot_id=slots[0].pk).hold

    def retry(index):
        return booking_confirm(
            hold_id=hold.pk, contact=contact, person=someone(1), idempotency_key="double-click"
        )

    results = race_threads(20, retry)
    assert all(isinstance(r, BookingResult) for r in results), results
    assert len({r.series.pk for r in results}) == 1
    assert len({r.management_token for r in results}) == 1
    assert Series.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert_invariants()


def test_the_same_person_booked_from_many_tabs_gets_one_series(reference_committed):
    _site, slots = small_site(dose1_lines=10)
    contact = verified_contact()
    holds = [hold_create(slot_id=slots[i % 3].pk).hold for i in range(10)]

    def book(index):
        return booking_confirm(
            hold_id=holds[index].pk,
            contact=contact,
            person=someone(7),
            idempotency_key=f"tab-{index}",
        )

    results = race_threads(10, book)
    assert all(isinstance(r, BookingResult) for r in results), results
    assert sum(r.created for r in results) == 1
    assert len({r.series.pk for r in results}) == 1
    assert not Hold.objects.exists()
    assert_invariants()


def test_bookings_moves_and_cancellations_at_once_keep_every_invariant(reference_committed):
    _site, slots = small_site(dose1_lines=4)
    contacts = [verified_contact(f"+336000002{i:02d}") for i in range(30)]
    existing = [hold_and_book([s.pk for s in slots], contacts[i], i) for i in range(6)]

    def act(index):
        if index < 6:
            return booking_cancel(series_id=existing[index].series.pk)
        if index < 12:
            series = existing[index - 6].series
            return booking_move(series_id=series.pk, dose_number=1, slot_id=slots[index % 3].pk)
        return hold_and_book([s.pk for s in slots], contacts[index], index)

    results = race_threads(30, act)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    assert_invariants()


def test_processes_booking_the_last_places_never_overbook(reference_committed):
    _site, slots = small_site(dose1_lines=3)  # 9 places for 6 processes x 5 people
    slot_ids = [s.pk for s in slots]
    results = race_processes(
        6,
        "tests.concurrency.workers.book_in_a_loop",
        lambda index: (slot_ids, f"+3361111110{index}", 5),
    )
    assert all(status == "ok" for status, _ in results), results
    outcomes = [outcome for _, value in results for outcome in value]
    assert outcomes.count("booked") == 9, outcomes
    assert set(outcomes) == {"booked", "slot_unavailable"}, outcomes
    assert_invariants()


def test_an_expired_hold_does_not_block_a_racing_crowd(reference_committed):
    _site, slots = small_site(dose1_lines=1)
    stale = [hold_create(slot_id=s.pk).hold for s in slots]
    Hold.objects.filter(pk__in=[h.pk for h in stale]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    contacts = [verified_contact(f"+336000003{i:02d}") for i in range(20)]
    results = race_threads(20, lambda i: hold_and_book([s.pk for s in slots], contacts[i], i))
    assert len([r for r in results if isinstance(r, BookingResult)]) == 3, results
    assert_invariants()


def test_slots_filling_at_the_same_instant_leave_the_read_model_exact(reference_committed):
    """Every hold fills its slot: each one recounts the day's first and last free start
    while others are doing the same."""
    site, slots = small_site(dose1_lines=1, dose2_lines=1)
    more = open_session(site, day=slots[0].date, start=time(10), end=time(14), lines=1)
    day2 = slots[0].date + timedelta(days=42)
    open_session(site, day=day2, start=time(10), end=time(14), lines=1, dose_number=2)
    slot_ids = [s.pk for s in slots] + list(more.slots.values_list("pk", flat=True))
    results = race_threads(len(slot_ids), lambda i: hold_create(slot_id=slot_ids[i]))
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    assert sum(1 for r in results if not isinstance(r, Exception)) == len(slot_ids)
    assert_invariants()


def test_one_person_booked_at_once_by_ten_relatives_gets_one_series(reference_committed):
    _site, slots = small_site(dose1_lines=10)
    contacts = [verified_contact(f"+336000004{i:02d}") for i in range(10)]
    holds = [hold_create(slot_id=slots[i % 3].pk).hold for i in range(10)]

    def book(index):
        return booking_confirm(
            hold_id=holds[index].pk,
            contact=contacts[index],
            person=someone(1),
            idempotency_key=f"relative-{index}",
        )

    results = race_threads(10, book)
    booked = [r for r in results if isinstance(r, BookingResult)]
    assert len(booked) == 1, results
    assert {r.code for r in results if isinstance(r, DomainError)} == {"already_booked"}
    assert_invariants()


def test_bookings_racing_a_day_cancellation_never_land_in_a_cancelled_session(
    reference_committed,
):
    """Twenty clients book while a manager cancels the day: whoever wins, no appointment
    is left booked in a closed session, and every course touched is told once."""
    site, slots = small_site(dose1_lines=10)
    contacts = [verified_contact(f"+336000003{i:02d}") for i in range(20)]
    existing = [hold_and_book([s.pk for s in slots], contacts[i], i) for i in range(4)]

    def act(index):
        if index == 0:
            return cancellation_create(
                actor=STAFF,
                site_id=site.pk,
                scope=Cancellation.Scope.DAY,
                day=tomorrow(),
                reason="Panne.",
            )
        return hold_and_book([s.pk for s in slots], contacts[index], 100 + index)

    results = race_threads(20, act)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    cancellation = results[0]
    assert not Appointment.objects.filter(
        slot__session__status="closed", slot__date=tomorrow(), status="booked"
    ).exists()
    told = Notification.objects.filter(kind="booking_cancelled")
    assert told.count() == cancellation.courses >= len(existing)
    assert len(set(told.values_list("event", flat=True))) == told.count()
    assert_invariants()
