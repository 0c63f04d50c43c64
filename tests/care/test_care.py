"""Check-in and doses given: one conditional update each, limited to the site."""

from datetime import timedelta

import pytest

from creneau.booking.models import Appointment, Series
from creneau.care.models import Administration
from creneau.care.services import administration_record, appointment_check_in, noshows_mark
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput, NotFound
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Stock
from tests.factories import LOT, STAFF, at, tomorrow, two_dose_site

DAY = tomorrow()


def ledger(site) -> tuple[int, int]:
    stock = Stock.objects.get(site=site)
    return stock.committed, stock.given


def test_check_in_then_dose_given_moves_one_dose_from_committed_to_given(booked):
    site, dose1, _dose2, nurse = booked
    committed, given = ledger(site)
    appointment_check_in(actor=STAFF, appointment_id=dose1.pk, site_id=site.pk, now=at(DAY, 8, 55))
    assert Appointment.objects.get(pk=dose1.pk).status == "arrived"
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"
    assert ledger(site) == (committed - 1, given + 1)
    record = Administration.objects.get()
    assert (record.lot, record.given_by, record.vaccine.code) == (LOT, nurse, "comirnaty")
    assert Series.objects.get().status == "active"  # dose 2 is still to come


def test_the_last_dose_given_completes_the_course(booked):
    site, dose1, dose2, nurse = booked
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    day2 = dose2.slot.date
    administration_record(
        appointment_id=dose2.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(day2, 9, 5),
    )
    series = Series.objects.get()
    assert series.status == "completed" and series.version == 2


def test_a_dose_is_recorded_once_even_from_two_desks(booked):
    site, dose1, _dose2, nurse = booked
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    committed, given = ledger(site)
    with pytest.raises(InvalidInput, match="déjà « Vacciné »"):
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot=LOT,
            actor=Actor(user=nurse),
            now=at(DAY, 9, 6),
        )
    assert ledger(site) == (committed, given) and Administration.objects.count() == 1


def test_another_sites_appointment_is_not_found(booked):
    _site, dose1, _dose2, nurse = booked
    other, _ = two_dose_site(name="Ailleurs")
    with pytest.raises(NotFound):
        appointment_check_in(actor=STAFF, appointment_id=dose1.pk, site_id=other.pk, now=at(DAY, 9))
    with pytest.raises(NotFound):
        administration_record(
            appointment_id=dose1.pk,
            site_id=other.pk,
            lot="L",
            actor=Actor(user=nurse),
            now=at(DAY, 9),
        )


def test_only_on_the_appointments_day(booked):
    site, dose1, _dose2, _nurse = booked
    with pytest.raises(InvalidInput, match="pas aujourd'hui"):
        appointment_check_in(
            actor=STAFF,
            appointment_id=dose1.pk,
            site_id=site.pk,
            now=at(DAY - timedelta(days=1), 9),
        )
    assert Appointment.objects.get(pk=dose1.pk).status == "booked"


@pytest.mark.parametrize("lot", ["", "   ", "x" * 41, "lot\x00"])
def test_a_lot_is_required_and_plain(booked, lot):
    site, dose1, _dose2, nurse = booked
    with pytest.raises(InvalidInput):
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot=lot,
            actor=Actor(user=nurse),
            now=at(DAY, 9),
        )
    assert Appointment.objects.get(pk=dose1.pk).status == "booked"


def test_an_injection_time_in_the_future_is_refused(booked):
    site, dose1, _dose2, nurse = booked
    with pytest.raises(InvalidInput, match="futur"):
        administration_record(
            appointment_id=dose1.pk,
            site_id=site.pk,
            lot=LOT,
            actor=Actor(user=nurse),
            given_at=at(DAY, 10),
            now=at(DAY, 9),
        )


def test_a_missed_first_dose_ends_the_course_frees_dose_2_and_returns_its_doses(booked):
    site, dose1, dose2, _nurse = booked
    committed, given = ledger(site)
    result = noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 18))
    assert [a.pk for a in result.marked] == [dose1.pk] and result.series_ended == 1
    assert Appointment.objects.get(pk=dose1.pk).status == "noshow"
    assert Appointment.objects.get(pk=dose2.pk).status == "cancelled"
    assert Slot.objects.get(pk=dose2.slot_id).booked == 0
    assert Slot.objects.get(pk=dose1.slot_id).booked == 1  # the place was used up
    series = Series.objects.get()
    assert series.status == "cancelled" and "dose 1" in series.cancel_reason
    # Two doses were promised by the first-dose place: neither will be given now.
    assert ledger(site) == (committed - 2, given)
    message = Notification.objects.filter(kind="booking_cancelled").get()
    assert "Absence" in notification_render(notification=message).body


def test_no_shows_wait_for_the_end_of_the_slot_and_spare_people_checked_in(booked):
    site, dose1, _dose2, _nurse = booked
    assert noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 9, 5)).marked == []
    appointment_check_in(actor=STAFF, appointment_id=dose1.pk, site_id=site.pk, now=at(DAY, 9, 5))
    assert noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 18)).marked == []
    assert Appointment.objects.get(pk=dose1.pk).status == "arrived"


def test_a_missed_second_dose_keeps_the_course_and_its_dose_for_a_new_date(booked):
    site, dose1, dose2, nurse = booked
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    committed, given = ledger(site)
    day2 = dose2.slot.date
    result = noshows_mark(actor=STAFF, site_id=site.pk, day=day2, now=at(day2, 20))
    assert [a.pk for a in result.marked] == [dose2.pk] and result.series_ended == 0
    assert Series.objects.get().status == "active"
    assert ledger(site) == (committed, given)  # dose 2 stays promised to this person


def test_marking_no_shows_twice_changes_nothing_more(booked):
    site, _dose1, _dose2, _nurse = booked
    noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 18))
    committed, given = ledger(site)
    again = noshows_mark(actor=STAFF, site_id=site.pk, day=DAY, now=at(DAY, 19))
    assert again.marked == [] and ledger(site) == (committed, given)
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1
