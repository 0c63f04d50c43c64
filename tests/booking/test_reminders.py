"""Reminders of appointments: one 48 hours before each booked appointment (none for a
cancelled one, its own for a moved one), a recall of the dose 2 once dose 1 is given,
none for a letter-only contact unless the setting says so, none written at night (in the
morning instead), and never two for the same appointment and start."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from creneau.booking.models import Appointment, Contact, Reminder
from creneau.booking.reminders import reminders_enqueue
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_move,
    contact_get_or_create,
    hold_create,
)
from creneau.outreach import sms
from creneau.outreach.models import Notification, OptOut
from creneau.outreach.rendering import notification_render
from creneau.outreach.services import optout_record, outbox_send
from tests.concurrency.racers import race_threads
from tests.factories import person, two_dose_site, verified_contact

PARIS = ZoneInfo("Europe/Paris")
REMINDER = Notification.Kind.APPOINTMENT_REMINDER


def book(contact=None):
    _site, session = two_dose_site()
    slot = session.slots.order_by("start").first()
    hold = hold_create(slot_id=slot.pk).hold
    result = booking_confirm(
        hold_id=hold.pk, contact=contact or verified_contact(), person=person()
    )
    dose1, dose2 = result.appointments
    return result.series, dose1, dose2, session


def at_day_hour(moment: datetime, hour: int) -> datetime:
    """`moment`'s day in Paris at `hour` o'clock (away from the quiet hours)."""
    return moment.astimezone(PARIS).replace(hour=hour, minute=0, second=0, microsecond=0)


def reminders(kind: str = REMINDER) -> list[Notification]:
    return list(Notification.objects.filter(kind=kind).order_by("id"))


def test_a_reminder_is_written_48_hours_before_with_the_manage_link(reference):
    series, dose1, _dose2, _ = book()
    start = dose1.slot.start
    # The day before yesterday at noon is more than 48 hours before tomorrow 9:00.
    assert reminders_enqueue(now=at_day_hour(start - timedelta(hours=49), 8)) == 0
    now = start - timedelta(hours=47)
    assert reminders_enqueue(now=now) == 1
    assert reminders_enqueue(now=now + timedelta(minutes=1)) == 0  # once
    (reminder,) = reminders()
    assert reminder.to == "+33612345678"
    assert reminder.event.startswith(f"series:{series.reference}:reminder:{dose1.pk}:")
    text = notification_render(notification=reminder).body
    assert "rappel" in text.lower() and "Dose 1" in text and "Dose 2" not in text
    assert f"/rendez-vous/{series.reference[:4]}" in text  # the manage link, made when sent
    assert "STOP" in text


def test_no_reminder_for_a_cancelled_appointment(reference):
    series, dose1, _dose2, _ = book()
    booking_cancel(series_id=series.pk)
    assert reminders_enqueue(now=dose1.slot.start - timedelta(hours=47)) == 0
    assert reminders() == []


def test_a_moved_appointment_gets_its_own_reminder(reference):
    series, dose1, _dose2, session = book()
    now = dose1.slot.start - timedelta(hours=47)
    assert reminders_enqueue(now=now) == 1
    later = session.slots.order_by("start").last()
    booking_move(series_id=series.pk, dose_number=1, slot_id=later.pk)
    assert reminders_enqueue(now=now + timedelta(minutes=5)) == 1
    assert reminders_enqueue(now=now + timedelta(minutes=6)) == 0
    starts = list(Reminder.objects.order_by("id").values_list("start", flat=True))
    assert starts == [dose1.slot.start, later.start]


def test_a_letter_only_contact_gets_no_reminder_unless_the_setting_says_so(reference, settings):
    letter = contact_get_or_create(
        channel=Contact.Channel.LETTER, address="12 RUE DES LILAS\n75017 PARIS"
    )
    _series, dose1, _dose2, _ = book(contact=letter)
    now = dose1.slot.start - timedelta(hours=47)
    assert reminders_enqueue(now=now) == 0
    settings.REMINDERS_BY_LETTER = True
    assert reminders_enqueue(now=now) == 1
    (reminder,) = reminders()
    assert reminder.channel == "letter"
    assert "JEANNE MARTIN" in reminder.to.upper()
    assert "appelez" in notification_render(notification=reminder).body


def test_nothing_is_written_at_night_and_all_of_it_in_the_morning(reference):
    _series, dose1, _dose2, _ = book()
    start = dose1.slot.start
    night = (start - timedelta(hours=47)).astimezone(PARIS).replace(hour=23)
    assert night < start - timedelta(hours=24)
    assert reminders_enqueue(now=night) == 0
    morning = night.replace(hour=7, minute=59) + timedelta(days=1)
    assert reminders_enqueue(now=morning) == 0
    assert reminders_enqueue(now=morning + timedelta(minutes=1)) == 1


def test_after_dose_1_a_message_recalls_the_dose_2(reference):
    _series, dose1, dose2, _ = book()
    after = dose1.slot.start + timedelta(hours=2)
    assert reminders_enqueue(now=after) == 0  # dose 1 not given yet
    Appointment.objects.filter(pk=dose1.pk).update(status=Appointment.Status.FULFILLED)
    assert reminders_enqueue(now=after) == 1
    assert reminders_enqueue(now=after + timedelta(minutes=1)) == 0
    (recall,) = reminders(Notification.Kind.DOSE2_RECALL)
    text = notification_render(notification=recall).body
    assert "Dose 2" in text and "2e" in text
    assert Reminder.objects.get().appointment_id == dose2.pk


def test_an_address_that_opted_out_gets_its_reminder_written_but_never_sent(reference):
    _series, dose1, _dose2, _ = book()
    optout_record(address="+33612345678", source=OptOut.Source.STOP)
    assert reminders_enqueue(now=dose1.slot.start - timedelta(hours=47)) == 1
    (reminder,) = reminders()
    assert reminder.status == Notification.Status.OPTED_OUT


def held_overnight(settings, monkeypatch):
    """A booked course and its dose-1 reminder written at 20:59 the evening before, which
    no worker sent before 21:00: the quiet hours hold it until 8:00. Returns the course,
    the dose-1 appointment, its session and a function that sets the clock."""
    settings.SMS_BACKEND = "creneau.outreach.sms.MemoryBackend"
    sms.outbox.clear()
    series, dose1, _dose2, session = book()

    def clock(moment: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    evening = clock(
        (dose1.slot.start - timedelta(days=1)).astimezone(PARIS).replace(hour=20, minute=59)
    )
    Notification.objects.all().delete()  # the confirmation, sent long before
    assert reminders_enqueue(now=evening) == 1
    assert outbox_send(now=clock(evening + timedelta(minutes=2))).deliveries == []
    return series, dose1, session, clock


def test_a_reminder_held_overnight_goes_in_the_morning(reference, settings, monkeypatch):
    _series, dose1, _session, clock = held_overnight(settings, monkeypatch)
    report = outbox_send(now=clock(at_day_hour(dose1.slot.start, 8)))
    assert [d.kind for d in report.deliveries] == [REMINDER]
    assert [message.reference for message in sms.outbox] == [str(reminders()[0].pk)]


def test_a_reminder_held_overnight_is_not_sent_for_an_appointment_cancelled_that_night(
    reference, settings, monkeypatch
):
    series, dose1, _session, clock = held_overnight(settings, monkeypatch)
    night = at_day_hour(dose1.slot.start, 0) + timedelta(hours=1)
    booking_cancel(series_id=series.pk, now=clock(night))
    report = outbox_send(now=clock(at_day_hour(dose1.slot.start, 8)))
    outcomes = {delivery.kind: delivery.outcome for delivery in report.deliveries}
    assert outcomes == {"booking_cancelled": "sent", REMINDER: "withdrawn"}
    (reminder,) = reminders()
    assert reminder.status == Notification.Status.WITHDRAWN
    assert str(reminder.pk) not in [message.reference for message in sms.outbox]


def test_a_reminder_held_overnight_for_an_appointment_moved_that_night_gives_way_to_its_own(
    reference, settings, monkeypatch
):
    series, dose1, session, clock = held_overnight(settings, monkeypatch)
    night = at_day_hour(dose1.slot.start, 0) + timedelta(hours=1)
    later = session.slots.order_by("start").last()
    booking_move(series_id=series.pk, dose_number=1, slot_id=later.pk, now=clock(night))
    morning = clock(at_day_hour(dose1.slot.start, 8))
    report = outbox_send(now=morning)
    outcomes = {delivery.kind: delivery.outcome for delivery in report.deliveries}
    assert outcomes == {"booking_moved": "sent", REMINDER: "withdrawn"}
    # The moved appointment's own reminder, for its new time, goes.
    assert reminders_enqueue(now=morning) == 1
    report = outbox_send(now=clock(morning + timedelta(minutes=1)))
    assert [(d.kind, d.outcome) for d in report.deliveries] == [(REMINDER, "sent")]
    assert Reminder.objects.order_by("-id").first().start == later.start


@pytest.mark.concurrency
def test_two_runs_at_once_write_one_reminder(reference_committed):
    _series, dose1, _dose2, _ = book()
    now = dose1.slot.start - timedelta(hours=47)
    results = race_threads(2, lambda _i: reminders_enqueue(now=now))
    assert sorted(results) == [0, 1]
    assert len(reminders()) == 1 and Reminder.objects.count() == 1
