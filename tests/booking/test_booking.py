from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.booking.models import Appointment, Hold, Series
from creneau.booking.services import (
    Override,
    booking_cancel,
    booking_confirm,
    booking_move,
    contact_verification_start,
    hold_create,
    hold_renew,
    holds_expire,
    session_cancel,
)
from creneau.core.errors import (
    AlreadyBooked,
    Dose2Unavailable,
    InvalidInput,
    NotEligible,
    SiteRestricted,
    TooManyPersons,
)
from creneau.outreach.models import Notification, notification_to_index
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import DayAvailability, Slot
from tests.factories import (
    STAFF,
    deliver,
    make_site,
    open_session,
    person,
    two_dose_site,
    verified_contact,
)


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
    assert (
        Notification.objects.filter(
            kind="booking_confirmed", to_index=notification_to_index(contact.address)
        ).count()
        == 1
    )
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


def test_a_move_confirmed_twice_moves_once_and_one_seen_on_an_old_slot_is_refused(
    site_and_session,
):
    _site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    hold = hold_create(slot_id=slots[0].pk).hold
    series = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person()).series
    for _attempt in range(2):
        booking_move(
            series_id=series.pk, dose_number=1, slot_id=slots[3].pk, from_slot_id=slots[0].pk
        )
    assert Appointment.objects.get(series=series, dose_number=1).slot_id == slots[3].pk
    assert Notification.objects.filter(kind="booking_moved").count() == 1
    assert [Slot.objects.get(pk=slot.pk).booked for slot in slots[:4]] == [0, 0, 0, 1]
    with pytest.raises(InvalidInput, match="changé entre-temps"):
        booking_move(
            series_id=series.pk, dose_number=1, slot_id=slots[5].pk, from_slot_id=slots[0].pk
        )
    assert Appointment.objects.get(series=series, dose_number=1).slot_id == slots[3].pk


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


def test_an_ineligible_person_is_refused_in_plain_words_and_nothing_is_booked(site_and_session):
    _site, session = site_and_session
    hold = hold_create(slot_id=first_slot(session).pk).hold
    with pytest.raises(NotEligible) as refused:
        booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person(age=8))
    assert "12" in refused.value.message
    assert not Series.objects.exists()
    assert Hold.objects.filter(pk=hold.pk).exists()


def test_a_restricted_site_refuses_people_outside_its_categories(reference):
    _site, session = two_dose_site(restricted_to=["firefighter"])
    hold = hold_create(slot_id=first_slot(session).pk).hold
    with pytest.raises(SiteRestricted):
        booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person())
    result = booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(),
        person=person(categories=("firefighter",)),
    )
    assert result.created


def test_a_staff_override_books_and_is_recorded(site_and_session, django_user_model):
    _site, session = site_and_session
    agent = django_user_model.objects.create_user("agent", password="x" * 12)
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(),
        person=person(age=8),
        override=Override(by=agent, reason="Avis du médecin traitant"),
    )
    series = Series.objects.get(pk=result.series.pk)
    assert series.override_by == agent
    assert series.override_reason == "Avis du médecin traitant"


def test_a_one_dose_vaccine_books_one_appointment(reference):
    site = make_site()
    deliver(site, 20, code="janssen")
    session = open_session(site, code="janssen")
    hold = hold_create(slot_id=first_slot(session).pk)
    assert hold.hold.dose2_slot_id is None and hold.dose2_options == []
    result = booking_confirm(hold_id=hold.hold.pk, contact=verified_contact(), person=person())
    assert [a.dose_number for a in result.appointments] == [1]


def test_no_hold_without_a_second_dose_slot_in_the_interval(reference):
    site = make_site()
    deliver(site, 100)
    session = open_session(site)
    open_session(site, day=session.date + timedelta(days=60), dose_number=2)  # too late
    with pytest.raises(Dose2Unavailable):
        hold_create(slot_id=first_slot(session).pk)
    assert not Slot.objects.filter(booked__gt=0).exists()


def test_cancelling_a_session_of_second_doses_cancels_whole_series_and_tells_everyone(
    site_and_session,
):
    _site, session = site_and_session
    contact = verified_contact()
    booked = [
        booking_confirm(
            hold_id=hold_create(slot_id=first_slot(session).pk).hold.pk,
            contact=contact,
            person=person(given_name=name),
        )
        for name in ("Jeanne", "Paul")
    ]
    dose2_session = booked[0].appointments[1].slot.session
    assert (
        session_cancel(actor=STAFF, session_id=dose2_session.pk, reason="Livraison retardée.") == 2
    )
    assert set(Series.objects.values_list("status", flat=True)) == {"cancelled"}
    assert Slot.objects.filter(session=session, booked__gt=0).count() == 0
    messages = Notification.objects.filter(kind="booking_cancelled")
    assert messages.count() == 2
    assert all(
        "Livraison retardée." in notification_render(notification=message).body
        for message in messages
    )


def test_expired_holds_are_released_by_the_sweep(site_and_session):
    _site, session = site_and_session
    hold = hold_create(slot_id=first_slot(session).pk).hold
    assert holds_expire() == 0
    Hold.objects.update(expires_at=timezone.now())
    assert holds_expire() == 1
    assert not Slot.objects.filter(booked__gt=0).exists()
    row = DayAvailability.objects.get(dose_number=1, date=session.date)
    assert row.free == sum(slot.capacity for slot in session.slots.all())
    assert hold.pk


def test_a_hold_that_ran_out_is_renewed_on_its_slot_and_its_places_count_once(
    site_and_session,
):
    _site, session = site_and_session
    slot = first_slot(session)
    old = hold_create(slot_id=slot.pk).hold
    Hold.objects.update(expires_at=timezone.now())
    renewed = hold_renew(hold_id=old.pk, slot_id=slot.pk).hold
    assert renewed.slot_id == slot.pk and renewed.dose2_slot_id is not None
    assert list(Hold.objects.values_list("pk", flat=True)) == [renewed.pk]
    assert sum(Slot.objects.values_list("booked", flat=True)) == 2
    # Its places already given back by the sweep, it is renewed all the same.
    Hold.objects.update(expires_at=timezone.now())
    holds_expire()
    assert hold_renew(hold_id=renewed.pk, slot_id=slot.pk).hold.slot_id == slot.pk
    assert sum(Slot.objects.values_list("booked", flat=True)) == 2


def test_the_second_dose_proposed_is_at_the_recommended_interval_and_the_same_time(
    site_and_session,
):
    _site, session = site_and_session
    slot = session.slots.order_by("start")[3]
    result = hold_create(slot_id=slot.pk)
    dose2 = result.hold.dose2_slot
    assert dose2.date == slot.date + timedelta(days=42)
    assert timezone.localtime(dose2.start).time() == timezone.localtime(slot.start).time()
    days = [option.date for option in result.dose2_options]
    assert days == sorted(days, key=lambda day: abs((day - dose2.date).days))


def test_the_same_person_booked_through_another_contact_is_refused_and_the_hold_given_back(
    site_and_session,
):
    _site, session = site_and_session
    first = hold_create(slot_id=first_slot(session).pk).hold
    booking_confirm(hold_id=first.pk, contact=verified_contact(), person=person())
    second = hold_create(slot_id=first_slot(session).pk).hold
    booked_before = Slot.objects.get(pk=second.slot_id).booked
    with pytest.raises(AlreadyBooked) as refusal:
        booking_confirm(
            hold_id=second.pk,
            contact=verified_contact("+33698765432"),
            person=person(given_name="JEANNE", family_name="martin"),
        )
    assert Series.objects.count() == 1
    # The held places go back: the question cannot be asked again with the same hold.
    assert not Hold.objects.filter(pk=second.pk).exists()
    assert Slot.objects.get(pk=second.slot_id).booked == booked_before - 1
    # Nothing says that this person is booked: a contact that did not book may not know.
    assert "déjà un rendez-vous en cours" not in refusal.value.message


def test_one_contact_books_for_six_persons_not_seven(reference):
    _site, session = two_dose_site(lines=10)
    contact = verified_contact()
    names = ["Anne", "Bruno", "Chloé", "David", "Emma", "Farid", "Gaëlle"]
    for name in names[:6]:
        hold = hold_create(slot_id=first_slot(session).pk).hold
        assert booking_confirm(hold_id=hold.pk, contact=contact, person=person(given_name=name))
    hold = hold_create(slot_id=first_slot(session).pk).hold
    with pytest.raises(TooManyPersons):
        booking_confirm(hold_id=hold.pk, contact=contact, person=person(given_name=names[6]))
    assert Series.objects.count() == 6


def test_dose_2_cannot_move_once_dose_1_was_missed(site_and_session):
    _site, session = site_and_session
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person())
    Appointment.objects.filter(series=result.series, dose_number=1).update(status="noshow")
    other = Slot.objects.filter(dose_number=2, booked=0).first()
    with pytest.raises(InvalidInput):
        booking_move(series_id=result.series.pk, dose_number=2, slot_id=other.pk)


def test_dose_2_moves_inside_the_interval_only(site_and_session):
    _site, session = site_and_session
    hold = hold_create(slot_id=first_slot(session).pk).hold
    result = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person())
    dose2 = result.appointments[1].slot
    later = Slot.objects.filter(dose_number=2, date=dose2.date + timedelta(days=7)).first()
    moved = booking_move(series_id=result.series.pk, dose_number=2, slot_id=later.pk)
    assert moved.appointments[1].slot_id == later.pk
    assert Slot.objects.get(pk=dose2.pk).booked == 0
    assert Notification.objects.filter(kind="booking_moved").count() == 1


def test_a_code_is_never_sent_by_sms_to_a_landline(reference):
    with pytest.raises(InvalidInput, match="pas un portable") as refused:
        contact_verification_start(phone="01 42 76 40 40")
    assert refused.value.details["field"] == "phone"
    assert not Notification.objects.exists()
