"""Cancelling only the second dose: once the first is given, the person (or an agent for
them) gives up the dose-2 appointment; never while the first is still to come."""

from datetime import timedelta

import pytest

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, Series
from creneau.booking.services import (
    booking_confirm,
    booking_dose2_cancel,
    hold_create,
)
from creneau.care.services import administration_record, appointment_check_in
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import DayAvailability, Slot
from creneau.vaccines.models import Stock
from tests.factories import LOT, STAFF, at, person, tomorrow, two_dose_site, verified_contact

DAY = tomorrow()


@pytest.fixture
def course(reference):
    _site, session = two_dose_site(name="Wagram", dose1_day=DAY)
    slot = session.slots.order_by("start").first()
    booked = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=at(DAY, 7)).hold.pk,
        contact=verified_contact(),
        person=person(),
        now=at(DAY, 7),
    )
    return booked


def doses(course) -> tuple[Appointment, Appointment]:
    dose1, dose2 = sorted(course.appointments, key=lambda a: a.dose_number)
    return dose1, dose2


def dose1_given(course, django_user_model) -> None:
    dose1, _ = doses(course)
    administration_record(
        appointment_id=dose1.pk,
        site_id=course.series.site_id,
        lot=LOT,
        actor=Actor(user=django_user_model.objects.create_user(username="infirmiere")),
        now=at(DAY, 9, 5),
    )


def counts(course) -> dict:
    _, dose2 = doses(course)
    slot = Slot.objects.get(pk=dose2.slot_id)
    stock = Stock.objects.get(site_id=course.series.site_id)
    free = DayAvailability.objects.get(
        site_id=slot.site_id, vaccine_id=slot.vaccine_id, dose_number=2, date=slot.date
    ).free
    return {
        "booked": slot.booked,
        "free": free,
        "committed": stock.committed,
        "given": stock.given,
        "messages": Notification.objects.count(),
    }


def test_once_dose_1_is_given_dose_2_alone_is_cancelled_its_place_and_dose_given_back(
    course, django_user_model
):
    dose1_given(course, django_user_model)
    before = counts(course)
    agent = Actor(user=django_user_model.objects.create_user(username="agent"))

    booking_dose2_cancel(
        series_id=course.series.pk, reason="Déménage.", actor=agent, now=at(DAY, 10)
    )

    dose1, dose2 = doses(course)
    assert Appointment.objects.get(pk=dose1.pk).status == Appointment.Status.FULFILLED
    assert Appointment.objects.get(pk=dose2.pk).status == Appointment.Status.CANCELLED
    assert Series.objects.get(pk=course.series.pk).status == Series.Status.CANCELLED
    assert counts(course) == before | {
        "booked": before["booked"] - 1,
        "free": before["free"] + 1,
        "committed": before["committed"] - 1,  # the dose the course no longer needs
        "messages": before["messages"] + 1,  # one per channel: the contact's SMS
    }
    message = Notification.objects.order_by("-pk").first()
    assert message.kind == "booking_cancelled" and message.to == "+33612345678"
    assert (
        "le rendez-vous de 2e dose de Jeanne Martin"
        in notification_render(notification=message).body
    )
    assert (
        "La 1re dose reste enregistrée" in notification_render(notification=message).body
        and "Déménage." in notification_render(notification=message).body
    )
    event = AuditEvent.objects.get(action="change", object_id=str(course.series.pk))
    assert event.actor == agent.user and event.summary == "2e dose annulée par téléphone"


def test_while_dose_1_is_to_come_dose_2_is_not_cancelled_alone(course):
    before = counts(course)

    with pytest.raises(InvalidInput, match="La première dose n'est pas encore faite"):
        booking_dose2_cancel(series_id=course.series.pk, now=at(DAY, 8))

    assert counts(course) == before
    assert {a.status for a in Appointment.objects.filter(series=course.series)} == {"booked"}
    assert Series.objects.get(pk=course.series.pk).status == Series.Status.ACTIVE


def test_nor_while_dose_1_is_being_given(course):
    dose1, _ = doses(course)
    appointment_check_in(
        actor=STAFF, appointment_id=dose1.pk, site_id=course.series.site_id, now=at(DAY, 9)
    )
    before = counts(course)

    with pytest.raises(InvalidInput, match="déjà sur place"):
        booking_dose2_cancel(series_id=course.series.pk, now=at(DAY, 9, 1))

    assert counts(course) == before


def test_nor_once_dose_2_has_begun(course, django_user_model):
    dose1_given(course, django_user_model)
    _, dose2 = doses(course)
    during = Slot.objects.get(pk=dose2.slot_id).start + timedelta(minutes=1)

    with pytest.raises(InvalidInput, match="a déjà commencé"):
        booking_dose2_cancel(series_id=course.series.pk, now=during)


def test_a_second_click_changes_nothing_and_sends_nothing_more(course, django_user_model):
    dose1_given(course, django_user_model)
    booking_dose2_cancel(series_id=course.series.pk, now=at(DAY, 10))
    after = counts(course)

    result = booking_dose2_cancel(series_id=course.series.pk, now=at(DAY, 10, 1))

    assert result.series.status == Series.Status.CANCELLED and counts(course) == after
