"""The quiet hours: no reminder and no invitation goes out at night (settings
OUTBOX_QUIET_HOURS, Europe/Paris). They wait, they are not dropped; codes and the
messages about a change to an appointment go at any hour."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from .models import OPTIONAL_PRIORITIES, WORKER_ROWS

QUIET_TIMEZONE = ZoneInfo("Europe/Paris")


def quiet_hours_parse(text: str) -> tuple[time, time] | None:
    """ "21:00-08:00" → (21:00, 08:00); "" → None (no quiet hours)."""
    if not text.strip():
        return None
    start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    return start, end


def quiet_hours_end(moment: datetime) -> datetime | None:
    """When the quiet hours `moment` falls in end (aware), or None outside them."""
    hours = quiet_hours_parse(settings.OUTBOX_QUIET_HOURS)
    if hours is None:
        return None
    start, end = hours
    local = moment.astimezone(QUIET_TIMEZONE)
    clock = local.time()
    quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not quiet:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=QUIET_TIMEZONE)


def outbox_sendable(now: datetime) -> Q:
    """The rows a worker may take now: due SMS and e-mails, and in the quiet hours only
    those that cannot wait (codes, messages about an appointment). The same condition,
    WORKER_ROWS first, as the partial index outbox_due_by_priority."""
    sendable = WORKER_ROWS & Q(next_attempt_at__lte=now)
    if quiet_hours_end(now) is not None:
        sendable &= Q(priority__lt=min(OPTIONAL_PRIORITIES))
    return sendable
