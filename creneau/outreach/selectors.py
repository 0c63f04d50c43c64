from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.errors import NotFound

from .models import (
    LETTERS_WAITING,
    JobRun,
    LetterBatch,
    Notification,
    WorkerHeartbeat,
    notification_to_index,
)
from .quiet import outbox_sendable

OUTBOX_PAGE = 50
BATCHES_SHOWN = 20


def outbox_list(*, to: str, limit: int = OUTBOX_PAGE) -> list[Notification]:
    """The latest messages written for one address, newest first."""
    found = Notification.objects.filter(to_index=notification_to_index(to))
    return list(found.order_by("-id")[:limit])


@dataclass(frozen=True)
class LettersWaiting:
    count: int
    oldest: datetime | None


def letters_waiting() -> LettersWaiting:
    """How many letters wait for the next printed batch, and since when."""
    found = Notification.objects.filter(LETTERS_WAITING).aggregate(
        count=Count("pk"), oldest=Min("created_at")
    )
    return LettersWaiting(**found)


def letter_batch_list(*, limit: int = BATCHES_SHOWN) -> list[LetterBatch]:
    return list(LetterBatch.objects.select_related("created_by")[:limit])


def letter_batch_get(*, batch_id: int) -> tuple[LetterBatch, list[Notification]]:
    """A batch and its letters in the order they were written (and are printed)."""
    batch = LetterBatch.objects.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(gettext("Lot de courriers introuvable : %(id)s.") % {"id": batch_id})
    return batch, list(batch.notifications.order_by("id"))


@dataclass(frozen=True)
class OutboxBacklog:
    due: dict[str, int]  # messages due now, per channel (letters: waiting to be printed)
    oldest_due_at: datetime | None  # the SMS or e-mail that has waited longest


def outbox_backlog(*, now: datetime | None = None) -> OutboxBacklog:
    """What the worker has still to send, for /healthz and /metrics (two indexed counts)."""
    now = now or timezone.now()
    due = dict.fromkeys(Notification.Channel.values, 0)
    rows = (
        # What the workers may send now: reminders and invitations wait out the night.
        Notification.objects.filter(outbox_sendable(now))
        .values("channel")
        .annotate(count=Count("pk"), oldest=Min("next_attempt_at"))
    )
    oldest = None
    for row in rows:
        due[row["channel"]] = row["count"]
        oldest = row["oldest"] if oldest is None else min(oldest, row["oldest"])
    due[Notification.Channel.LETTER] = Notification.objects.filter(LETTERS_WAITING).count()
    return OutboxBacklog(due=due, oldest_due_at=oldest)


def jobs_failing() -> dict[str, bool]:
    """Each background job the worker has run, and whether its last run failed."""
    rows = JobRun.objects.values_list("name", "last_error")
    return {name: bool(error) for name, error in rows}


def worker_last_beat() -> datetime | None:
    return WorkerHeartbeat.objects.aggregate(last=Max("beat_at"))["last"]
