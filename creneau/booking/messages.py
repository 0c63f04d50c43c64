"""The secrets booking's messages carry, made when each message is sent (outreach's
worker calls these through outreach/rendering.py) from a key the outbox stores: a
verification id, a booking reference, a cancellation item; and whether a reminder is
still due when its turn comes. Loaded by apps.py."""

from datetime import UTC, datetime

from django.conf import settings

from creneau.outreach.models import Notification
from creneau.outreach.rendering import message_secret
from creneau.outreach.services import message_still_due
from creneau.outreach.sms import SendError

from . import tokens
from .models import Appointment, Series

VERIFICATION_CODE = "verification_code"
MANAGEMENT_LINK = "management_link"
REBOOK_LINK = "rebook_link"


@message_secret(VERIFICATION_CODE)
def verification_code(verification_id: str) -> str:
    return tokens.one_time_code(verification_id=verification_id)


@message_secret(MANAGEMENT_LINK)
def management_link(reference: str) -> str:
    """The booking's page with its key in the fragment, which browsers never send: the key
    reaches no access log (portal's "open" page posts it)."""
    salt = Series.objects.filter(reference=reference).values_list("token_salt", flat=True).first()
    if salt is None:  # purged before its message went: retrying cannot bring it back
        raise SendError("the booking this message links to no longer exists", permanent=True)
    return settings.BOOKING_LINK.format(
        reference=tokens.reference_display(reference),
        token=tokens.management_token(reference=reference, salt=salt),
    )


@message_secret(REBOOK_LINK)
def rebook_link(item_id: str) -> str:
    return settings.REBOOK_LINK.format(token=tokens.rebook_token(item_id=int(item_id)))


def reminder_event(*, series: Series, appointment: Appointment, kind: str) -> str:
    # Named after the course, as its other messages (erasing the person finds it), with
    # the appointment and its start, which the check when it is sent reads back.
    start = int(appointment.slot.start.timestamp())
    return f"series:{series.reference}:reminder:{appointment.pk}:{kind}:{start}"


def reminder_event_read(event: str) -> tuple[int, datetime] | None:
    """(appointment id, start) from a reminder's event, or None for another event."""
    parts = event.split(":")
    if len(parts) != 6 or parts[2] != "reminder":
        return None
    try:
        return int(parts[3]), datetime.fromtimestamp(int(parts[5]), tz=UTC)
    except ValueError:
        return None


@message_still_due(Notification.Kind.APPOINTMENT_REMINDER, Notification.Kind.DOSE2_RECALL)
def reminder_still_due(notification: Notification) -> bool:
    """A reminder goes only if its appointment is still booked, in an active course, at
    the time it was written for: one written before the quiet hours waits out the night,
    and the appointment may have been cancelled or moved meanwhile (a moved one has its
    own reminder, at its new time)."""
    named = reminder_event_read(notification.event)
    if named is None:
        return True
    appointment_id, start = named
    return Appointment.objects.filter(
        pk=appointment_id,
        status=Appointment.Status.BOOKED,
        series__status=Series.Status.ACTIVE,
        slot__start=start,
    ).exists()
