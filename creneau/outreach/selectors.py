from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils.translation import gettext

from creneau.core.errors import NotFound

from .models import LETTERS_WAITING, LetterBatch, Notification

OUTBOX_PAGE = 50
BATCHES_SHOWN = 20


def outbox_list(*, to: str) -> list[Notification]:
    """The latest messages written for one address, newest first."""
    return list(Notification.objects.filter(to=to).order_by("-id")[:OUTBOX_PAGE])


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
