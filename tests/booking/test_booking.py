from datetime import timedelta

import pytest

from creneau.booking.models import Appointment, Hold, Series
from creneau.booking.services import booking_cancel, booking_confirm, booking_move, hold_create
from creneau.outreach.models import Notification
from creneau.scheduling.models import DayAvailability, Slot
from tests.factories import person, two_dose_site, verified_contact


@pytest.fixture
def site_and_session(reference):
    return two_dose_site()


def first_slot(session):
    return session.slots.order_by("start").first()


def test_hold_takes_dose_1_and_the_recommended_dose_2(site_and_session):
    _site, session = site_and_session
    slot = first_slot(session)
    result = hold_create(slot_id=slot.pk)
    slot.refresh_from_db()
    assert slot.booked == 1
    dose2 = Slot.objects.get(pk=result.hold.dose2_slot_id)
    assert dose2.booked == 1
    assert dose2.date == slot.date + timedelta(days=42)
    assert result.dose2_options[0] == dose2


def test_booking_creates_both_doses_and_one_notification(site_and_session):
    _site, session = site_and_session
    contact = verified_contact()
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(
        hold_id=hold.pk, contact=contact, person=person(), idempotency_key="k" * 8
    )
    assert [a.dose_number for a in result.appointments] == [1, 2]
    assert not Hold.objects.exists()
    assert Notification.objects.filter(kind="booking_confirmed", to=contact.address).count() == 1
    again = booking_confirm(
        hold_id=hold.pk, contact=contact, person=person(), idempotency_key="k" * 8
    )
    assert again.series.pk == result.series.pk
    assert again.management_token == result.management_token


def test_move_dose_1_moves_dose_2_when_it_no_longer_fits(site_and_session):
    _site, session = site_and_session
    contact = verified_contact()
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(hold_id=hold.pk, contact=contact, person=person())
    later = session.slots.order_by("start").last()
    moved = booking_move(series_id=result.series.pk, dose_number=1, slot_id=later.pk)
    assert moved.appointments[0].slot_id == later.pk


def test_cancel_frees_both_places(site_and_session):
    site, session = site_and_session
    contact = verified_contact()
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(hold_id=hold.pk, contact=contact, person=person())
    booking_cancel(series_id=result.series.pk)
    assert Slot.objects.filter(booked__gt=0).count() == 0
    assert Series.objects.get().status == "cancelled"
    assert set(Appointment.objects.values_list("status", flat=True)) == {"cancelled"}
    row = DayAvailability.objects.get(site=site, dose_number=1, date=session.date)
    assert row.free == sum(s.capacity for s in session.slots.all())
