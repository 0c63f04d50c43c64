"""A course begun elsewhere: dose 1 given at another centre, on another platform or
abroad, and only dose 2 booked here, inside the product's interval after the declared
day, with its one dose promised from stock; cancelled, moved and given like any dose 2."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, CancellationItem, Dose1Declarant, Hold, Series
from creneau.booking.selectors import dose1_elsewhere_check, rebook_offers, rebook_preview
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_move,
    booking_rebook,
    cancellation_create,
    hold_create,
)
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.core.errors import (
    Dose2Unavailable,
    InvalidInput,
    NotEligible,
    StockInsufficient,
)
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Stock
from tests.factories import (
    LOT,
    STAFF,
    at,
    deliver,
    make_site,
    open_session,
    person,
    tomorrow,
    verified_contact,
)

TODAY = timezone.localdate()
DAY = tomorrow(2)
# Comirnaty: dose 2 from 21 to 49 days after dose 1; 20 days ago puts DAY inside.
GIVEN_ON = TODAY - timedelta(days=20)


def dose2_site(*, doses: int = 10, name: str = "Wagram", **fields):
    """A site with a second-dose session of Comirnaty on DAY and `doses` in stock."""
    site = make_site(name=name, **fields)
    if doses:
        deliver(site, doses)
    session = open_session(site, day=DAY, dose_number=2)
    return site, session


def declared(code: str = "comirnaty", given_on: date = GIVEN_ON):
    return dose1_elsewhere_check(vaccine_code=code, given_on=given_on, today=TODAY)


def book_dose2_alone(slot: Slot, *, who=None, actor=None, key=None, contact=None):
    hold = hold_create(slot_id=slot.pk, dose1_elsewhere=declared(), now=at(TODAY, 7)).hold
    return booking_confirm(
        hold_id=hold.pk,
        contact=contact or verified_contact(),
        person=who or person(),
        actor=actor,
        idempotency_key=key,
        now=at(TODAY, 7),
    )


@pytest.fixture
def site_slot(reference):
    site, session = dose2_site()
    return site, session.slots.order_by("start").first()


def test_dose2_alone_is_one_dose2_appointment_with_dose1_recorded_and_its_dose_promised(
    site_slot,
):
    site, slot = site_slot
    committed = Stock.objects.get(site=site).committed

    result = book_dose2_alone(slot)

    series = result.series
    assert [(a.dose_number, a.slot_id) for a in series.appointments.all()] == [(2, slot.pk)]
    assert series.dose1_elsewhere_on == GIVEN_ON
    assert series.dose1_elsewhere_declared_by == Dose1Declarant.PERSON
    assert series.vaccine.code == "comirnaty"
    assert Slot.objects.get(pk=slot.pk).booked == 1
    # A second-dose place promises no dose: this booking promised its own (invariant 2).
    assert Stock.objects.get(site=site).committed == committed + 1
    confirmed = Notification.objects.get(kind=Notification.Kind.BOOKING_CONFIRMED)
    assert "1re dose reçue ailleurs le" in notification_render(notification=confirmed).body
    assert not Hold.objects.exists()


def test_an_agent_booking_records_the_agent_as_declarant_in_the_course_and_the_log(
    site_slot, django_user_model
):
    _site, slot = site_slot
    agent = Actor(user=django_user_model.objects.create_user(username="agent"))

    series = book_dose2_alone(slot, actor=agent).series

    assert series.dose1_elsewhere_declared_by == Dose1Declarant.AGENT
    event = AuditEvent.objects.get(action="create", object_id=str(series.pk))
    assert event.actor == agent.user
    assert GIVEN_ON.strftime("%d/%m/%Y") in event.summary


@pytest.mark.parametrize(
    ("code", "given_on", "field", "words"),
    [
        ("comirnaty", TODAY + timedelta(days=1), "dose1_date", "futur"),
        ("janssen", GIVEN_ON, "dose1_vaccine", "une seule dose"),
        ("pfizouille", GIVEN_ON, "dose1_vaccine", "inconnu"),
        ("comirnaty", TODAY - timedelta(days=50), "dose1_date", "dépassé"),
        ("comirnaty", date(1990, 1, 1), "dose1_date", "dépassé"),
    ],
)
def test_a_declaration_that_cannot_be_is_refused_for_its_field(
    reference, code, given_on, field, words
):
    with pytest.raises(InvalidInput) as refused:
        dose1_elsewhere_check(vaccine_code=code, given_on=given_on, today=TODAY)
    assert refused.value.details["field"] == field
    assert words in refused.value.message


def test_the_window_is_the_products_interval_from_today(reference):
    found = declared(given_on=TODAY - timedelta(days=30))
    assert (found.first, found.last) == (TODAY, TODAY + timedelta(days=19))
    later = declared(given_on=TODAY - timedelta(days=1))
    assert (later.first, later.last) == (TODAY + timedelta(days=20), TODAY + timedelta(days=48))


def test_only_a_dose2_slot_of_the_same_product_inside_the_interval_is_held(reference):
    site, session = dose2_site(doses=100)
    first_dose = open_session(
        site,
        day=DAY,
        start=session.start_time.replace(hour=11),
        end=session.end_time.replace(hour=12),
    )
    other = open_session(
        site,
        code="spikevax",
        day=DAY,
        dose_number=2,
        start=session.start_time.replace(hour=13),
        end=session.end_time.replace(hour=14),
    )
    too_late = open_session(site, day=GIVEN_ON + timedelta(days=50), dose_number=2)
    for slot, error in (
        (first_dose.slots.first(), InvalidInput),
        (other.slots.first(), InvalidInput),
        (too_late.slots.first(), Dose2Unavailable),
    ):
        with pytest.raises(error):
            hold_create(slot_id=slot.pk, dose1_elsewhere=declared(), now=at(TODAY, 7))
    assert not Hold.objects.exists()
    assert not Slot.objects.filter(booked__gt=0).exists()


def test_a_dose2_slot_is_not_held_as_a_first_dose(site_slot):
    _site, slot = site_slot
    with pytest.raises(InvalidInput):
        hold_create(slot_id=slot.pk, now=at(TODAY, 7))


def test_eligibility_is_decided_for_dose_2(site_slot):
    _site, slot = site_slot
    with pytest.raises(NotEligible):
        book_dose2_alone(slot, who=person(age=10))
    assert not Series.objects.exists()


def test_without_stock_not_yet_promised_it_is_refused_and_nothing_is_booked(reference):
    _site, session = dose2_site(doses=0)
    slot = session.slots.first()
    with pytest.raises(StockInsufficient):
        book_dose2_alone(slot)
    assert not Series.objects.exists()
    assert not Notification.objects.exists()
    # Its place is not kept from others until the hold runs out.
    assert not Hold.objects.exists()
    assert Slot.objects.get(pk=slot.pk).booked == 0


def test_a_person_with_a_course_under_way_cannot_start_a_dose2_alone(site_slot):
    _site, slot = site_slot
    first = book_dose2_alone(slot)
    again = book_dose2_alone(Slot.objects.exclude(pk=slot.pk).filter(session=slot.session).first())

    assert not again.created
    assert again.series.pk == first.series.pk
    assert Series.objects.count() == 1
    # The second hold's place went back (invariant 4 costs nobody a place).
    assert sum(Slot.objects.values_list("booked", flat=True)) == 1


def test_the_same_request_twice_books_once(site_slot):
    _site, slot = site_slot
    contact = verified_contact()
    hold = hold_create(slot_id=slot.pk, dose1_elsewhere=declared(), now=at(TODAY, 7)).hold
    answers = [
        booking_confirm(
            hold_id=hold.pk,
            contact=contact,
            person=person(),
            idempotency_key="retry-0001",
            now=at(TODAY, 7),
        )
        for _ in range(2)
    ]
    assert answers[0].series.pk == answers[1].series.pk
    assert Notification.objects.count() == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1


@pytest.mark.parametrize("cancel", [booking_dose2_cancel, booking_cancel])
def test_cancelling_its_dose2_ends_the_course_gives_place_and_dose_back_keeps_dose1(
    site_slot, cancel
):
    site, slot = site_slot
    committed = Stock.objects.get(site=site).committed
    series = book_dose2_alone(slot).series

    cancel(series_id=series.pk, reason="Déménage", actor=STAFF, now=at(TODAY, 8))

    series.refresh_from_db()
    assert series.status == Series.Status.CANCELLED
    assert series.dose1_elsewhere_on == GIVEN_ON
    assert Slot.objects.get(pk=slot.pk).booked == 0
    assert Stock.objects.get(site=site).committed == committed
    cancelled = Notification.objects.get(kind=Notification.Kind.BOOKING_CANCELLED)
    assert "2e dose" in notification_render(notification=cancelled).body


def test_its_dose2_moves_inside_the_interval_only(site_slot):
    site, slot = site_slot
    series = book_dose2_alone(slot).series
    inside = open_session(site, day=DAY + timedelta(days=7), dose_number=2).slots.first()
    outside = open_session(site, day=GIVEN_ON + timedelta(days=60), dose_number=2).slots.first()

    with pytest.raises(Dose2Unavailable):
        booking_move(series_id=series.pk, dose_number=2, slot_id=outside.pk, now=at(TODAY, 8))
    booking_move(series_id=series.pk, dose_number=2, slot_id=inside.pk, now=at(TODAY, 8))

    assert list(Appointment.objects.filter(series=series).values_list("slot_id", "status")) == [
        (inside.pk, "booked")
    ]
    with pytest.raises(InvalidInput):
        booking_move(series_id=series.pk, dose_number=1, slot_id=inside.pk, now=at(TODAY, 8))


def test_its_dose2_given_completes_the_course(site_slot, django_user_model):
    site, slot = site_slot
    series = book_dose2_alone(slot).series
    dose2 = series.appointments.get()
    nurse = Actor(user=django_user_model.objects.create_user(username="infirmiere"))

    administration_record(
        actor=nurse, appointment_id=dose2.pk, site_id=site.pk, lot=LOT, now=slot.start
    )

    series.refresh_from_db()
    assert series.status == Series.Status.COMPLETED
    stock = Stock.objects.get(site=site)
    assert (stock.committed, stock.given) == (0, 1)


def test_a_cancelled_dose2_session_keeps_the_course_and_offers_a_new_dose2_date(site_slot):
    site, slot = site_slot
    series = book_dose2_alone(slot).series
    later = open_session(site, day=DAY + timedelta(days=3), dose_number=2).slots.first()

    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope="session",
        session_id=slot.session_id,
        reason="Panne",
        now=at(TODAY, 8),
    )

    series.refresh_from_db()
    assert series.status == Series.Status.ACTIVE
    item = CancellationItem.objects.get(series=series)
    assert item.dose_number == 2
    # The link in the message offers dose-2 dates in the interval after the declared day.
    offers = rebook_offers(item=item, now=at(TODAY, 9)).offers
    assert [slot.pk for slot in offers[0].slots][:1] == [later.pk]
    assert rebook_preview(item=item, slot_id=later.pk, now=at(TODAY, 9)).slot.pk == later.pk
    booking_rebook(item_id=item.pk, slot_id=later.pk, now=at(TODAY, 9))
    assert series.appointments.get(status="booked").slot_id == later.pk
    # The dose its booking promised is still the one it will be given.
    assert Stock.objects.get(site=site).committed == 1
