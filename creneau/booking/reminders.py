"""Reminders of appointments, written by a job the worker runs every minute (jobs.py):

- 48 hours (REMINDER_HOURS_BEFORE) before each booked appointment of an active course,
  a reminder with the manage link; a cancelled appointment has none, and a moved one
  gets its own (its new start), as `one_reminder_per_start` keys them;
- once dose 1 is given, a message recalling the dose-2 appointment.

By SMS or e-mail, the contact's channel; a contact with only a postal address gets no
reminder unless REMINDERS_BY_LETTER (printing and postage). Nothing is written during
the quiet hours (outreach.quiet): what falls due at night is written at 8:00, deferred,
not dropped; written by day, a reminder goes out within moments. One written just before
21:00 is held back by the outbox's own quiet hours until the morning: when its turn
comes, the worker checks that its appointment is still booked at that time
(messages.reminder_still_due), so a cancellation or a move made that night stops it.
Reminders are optional messages: an address that opted out gets none.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from creneau.outreach.quiet import quiet_hours_end

from .messages import reminder_event
from .models import Appointment, Contact, Reminder, Series
from .services.course import _notify

# Reminders written in one run at most (the job comes back a minute later).
REMINDERS_PER_RUN = 2000


def reminders_enqueue(*, now: datetime | None = None, limit: int = REMINDERS_PER_RUN) -> int:
    """Write the reminders due now that were not written yet; how many."""
    now = now or timezone.now()
    if quiet_hours_end(now) is not None:
        return 0
    written = 0
    for appointment in _before_due(now=now, limit=limit):
        written += _remind(appointment, kind=Reminder.Kind.BEFORE, now=now)
    for appointment in _dose2_recall_due(now=now, limit=limit):
        written += _remind(appointment, kind=Reminder.Kind.DOSE2_RECALL, now=now)
    return written


def _booked_ahead(now: datetime):
    found = Appointment.objects.filter(
        status=Appointment.Status.BOOKED, series__status=Series.Status.ACTIVE, slot__start__gt=now
    )
    if not settings.REMINDERS_BY_LETTER:
        found = found.exclude(series__contact__channel=Contact.Channel.LETTER)
    return found.select_related(
        "slot", "series__contact", "series__person", "series__site"
    ).order_by("slot__start", "id")


def _before_due(*, now: datetime, limit: int) -> list[Appointment]:
    reminded = Reminder.objects.filter(
        appointment=OuterRef("pk"), kind=Reminder.Kind.BEFORE, start=OuterRef("slot__start")
    )
    hours = timedelta(hours=settings.REMINDER_HOURS_BEFORE)
    due = _booked_ahead(now).filter(slot__start__lte=now + hours).filter(~Exists(reminded))
    return list(due[:limit])


def _dose2_recall_due(*, now: datetime, limit: int) -> list[Appointment]:
    """Dose-2 appointments whose course's dose 1 was given here, not recalled yet (once:
    a dose 2 moved afterwards has its own message of the move)."""
    dose1_given = Appointment.objects.filter(
        series=OuterRef("series"), dose_number=1, status=Appointment.Status.FULFILLED
    )
    recalled = Reminder.objects.filter(appointment=OuterRef("pk"), kind=Reminder.Kind.DOSE2_RECALL)
    due = _booked_ahead(now).filter(dose_number=2).filter(Exists(dose1_given), ~Exists(recalled))
    return list(due[:limit])


def _remind(appointment: Appointment, *, kind: str, now: datetime) -> int:
    """The reminder's row and its message, together or not at all; 0 when another run
    wrote it first (the constraint decides)."""
    start = appointment.slot.start
    try:
        with transaction.atomic():
            Reminder.objects.create(appointment=appointment, kind=kind, start=start, created_at=now)
            _notify(
                series=appointment.series,
                kind=kind,
                appointments=[appointment],
                event=reminder_event(series=appointment.series, appointment=appointment, kind=kind),
            )
    except IntegrityError:
        return 0
    return 1
