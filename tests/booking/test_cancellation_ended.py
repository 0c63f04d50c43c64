"""What has ended is for the no-shows, not for a cancellation: nobody is told that an
appointment already past is cancelled, and a day or session that is over is refused."""

from datetime import time, timedelta

import pytest

from creneau.booking.models import Appointment, Cancellation, Series
from creneau.booking.selectors import cancellation_preview
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.core.errors import InvalidInput
from creneau.outreach.models import Notification, notification_to_index
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Session, Slot
from creneau.vaccines.models import Stock
from tests.factories import (
    STAFF,
    at,
    open_session,
    person,
    series_named,
    tomorrow,
    two_dose_site,
    verified_contact,
)

Scope = Cancellation.Scope
DAY = tomorrow()


def book(slot, name: str, phone: str):
    """Booked at 7:00 on DAY, before any slot of the day has started."""
    hold = hold_create(slot_id=slot.pk, now=at(DAY, 7)).hold
    return booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(phone),
        person=person(given_name=name),
        now=at(DAY, 7),
    )


def first_slot(session, hour: int) -> Slot:
    return session.slots.get(start=at(DAY, hour))


@pytest.fixture
def site(reference):
    """A morning session (9:00-10:00) and an afternoon one (14:00-15:00) on DAY, each with
    a course booked: Jeanne at 9:00, Ana at 14:00; dose 2 six weeks on."""
    site, morning = two_dose_site(name="Wagram", dose1_day=DAY)
    afternoon = open_session(site, day=DAY, start=time(14), end=time(15))
    book(first_slot(morning, 9), "Jeanne", "+33611111111")
    book(first_slot(afternoon, 14), "Ana", "+33622222222")
    return site


def day_sessions(site) -> tuple[Session, Session]:
    morning, afternoon = Session.objects.filter(site=site, date=DAY).order_by("start_time")
    return morning, afternoon


def state(site) -> dict:
    """Everything a cancellation changes."""
    stock = Stock.objects.get(site=site)
    return {
        "sessions": sorted(Session.objects.filter(site=site).values_list("pk", "status")),
        "slots": sorted(Slot.objects.filter(site=site).values_list("pk", "capacity", "booked")),
        "appointments": sorted(Appointment.objects.values_list("pk", "status")),
        "series": sorted(Series.objects.values_list("pk", "status", "version")),
        "stock": (stock.delivered, stock.committed, stock.given),
        "notifications": Notification.objects.count(),
        "cancellations": Cancellation.objects.count(),
    }


@pytest.mark.parametrize("now", [at(DAY, 15, 30), at(DAY + timedelta(days=1), 9)])
def test_a_day_that_is_over_cannot_be_cancelled_and_nothing_changes(site, now):
    before = state(site)
    with pytest.raises(InvalidInput, match="Ce jour est passé"):
        cancellation_preview(site_id=site.pk, scope=Scope.DAY, day=DAY, now=now)
    with pytest.raises(InvalidInput, match="Ce jour est passé"):
        cancellation_create(
            actor=STAFF, site_id=site.pk, scope=Scope.DAY, day=DAY, reason="Panne.", now=now
        )
    assert state(site) == before
    assert not Notification.objects.filter(kind="booking_cancelled").exists()
    assert set(Appointment.objects.values_list("status", flat=True)) == {"booked"}


def test_a_session_whose_slots_have_all_ended_cannot_be_cancelled(site):
    morning, _afternoon = day_sessions(site)
    before = state(site)
    eleven = at(DAY, 11)  # the morning is over, the afternoon is not
    with pytest.raises(InvalidInput, match="Cette session est terminée"):
        cancellation_preview(
            site_id=site.pk, scope=Scope.SESSION, session_id=morning.pk, now=eleven
        )
    with pytest.raises(InvalidInput, match="Cette session est terminée"):
        cancellation_create(
            actor=STAFF,
            site_id=site.pk,
            scope=Scope.SESSION,
            session_id=morning.pk,
            reason="x",
            now=eleven,
        )
    assert state(site) == before
    assert Session.objects.get(pk=morning.pk).status == "open"
    assert not Notification.objects.filter(kind="booking_cancelled").exists()


def assert_only_the_afternoon_cancelled(cancellation) -> None:
    """Jeanne's 9:00 has ended: still booked (a no-show to mark, or a dose to record),
    her course untouched, no message; Ana's afternoon course is cancelled and she is told."""
    jeanne, ana = (series_named(name) for name in ("Jeanne", "Ana"))
    assert set(jeanne.appointments.values_list("status", flat=True)) == {"booked"}
    assert jeanne.status == "active" and jeanne.version == 1
    assert set(ana.appointments.values_list("status", flat=True)) == {"cancelled"}
    assert ana.status == "cancelled"
    [message] = Notification.objects.filter(kind="booking_cancelled")
    assert message.to == "+33622222222"
    assert (cancellation.courses, cancellation.appointments, cancellation.notifications) == (
        1,
        2,
        1,
    )


def test_cancelling_the_day_at_one_leaves_the_mornings_ended_appointment_alone(site):
    one = at(DAY, 13)
    preview = cancellation_preview(site_id=site.pk, scope=Scope.DAY, day=DAY, now=one)
    assert (preview.sessions, preview.courses, preview.appointments) == (2, 1, 1)

    cancellation = cancellation_create(
        actor=STAFF, site_id=site.pk, scope=Scope.DAY, day=DAY, reason="Panne.", now=one
    )

    assert_only_the_afternoon_cancelled(cancellation)


def test_cancelling_todays_session_after_lunch_spares_its_ended_morning_slots(reference):
    site, _short = two_dose_site(name="Journée", dose1_day=DAY + timedelta(days=1))
    whole_day = open_session(site, day=DAY, start=time(9), end=time(16), slot_minutes=60)
    book(first_slot(whole_day, 9), "Jeanne", "+33611111111")
    book(first_slot(whole_day, 15), "Ana", "+33622222222")
    one = at(DAY, 13)
    preview = cancellation_preview(
        site_id=site.pk, scope=Scope.SESSION, session_id=whole_day.pk, now=one
    )
    assert (preview.sessions, preview.courses, preview.appointments) == (1, 1, 1)

    cancellation = cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Scope.SESSION,
        session_id=whole_day.pk,
        reason="Grève.",
        now=one,
    )

    assert_only_the_afternoon_cancelled(cancellation)
    assert Slot.objects.get(pk=first_slot(whole_day, 9).pk).booked == 1  # her place stays


def test_cancelling_a_dose_2_session_after_an_unrecorded_dose_1_ends_the_course(site):
    """Jeanne's 9:00 first dose has passed with nothing recorded. Her dose-2 session is
    cancelled at 11:00: her whole course goes, so that no dose 1 is left without its
    dose 2 (invariant 3), and she is told and offered first-dose places."""
    jeanne = series_named("Jeanne")
    dose2 = jeanne.appointments.get(dose_number=2)
    cancellation = cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Scope.SESSION,
        session_id=dose2.slot.session_id,
        reason="Grève.",
        now=at(DAY, 11),
    )
    jeanne.refresh_from_db()
    assert jeanne.status == "cancelled"
    assert set(jeanne.appointments.values_list("status", flat=True)) == {"cancelled"}
    assert cancellation.items.get(series=jeanne).dose_number == 1
    [message] = Notification.objects.filter(
        kind="booking_cancelled", to_index=notification_to_index("+33611111111")
    )
    assert "Reprenez rendez-vous" in notification_render(notification=message).body
