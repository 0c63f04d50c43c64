"""The outbox: messages are rows written in the transaction of the change they report.

A rolled-back change leaves no row, and a committed one leaves exactly one per channel
(invariant 5). Sending them is `outbox_send`'s job, run by a worker
(`manage.py outbox_send --forever`), as many at once as wanted.
"""

import logging
import random
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput

from .models import (
    LETTERS_WAITING,
    WORKER_ROWS,
    LetterBatch,
    Notification,
    WorkerHeartbeat,
    notification_to_index,
)
from .rendering import RenderedMessage, notification_render, parameters_split
from .sms import ERROR_LENGTH, SendError, SmsBackend, sms_backend

logger = logging.getLogger(__name__)

# After a failed attempt n, the next one waits RETRY_DELAYS[n - 1]; after the last, the
# message has failed. 1 + 5 + 30 + 120 minutes: a provider that is down for two and a
# half hours still delivers everything.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A row left "sending" this long was taken by a worker that died: another takes it
# again. Far longer than one send can last (the SMS and SMTP timeouts are seconds).
CLAIM_TIMEOUT = timedelta(minutes=5)
TAKEN = (Notification.Status.PENDING, Notification.Status.SENDING)


def notification_enqueue(
    *, channel: str, to: str, kind: str, event: str, context: dict, language: str = "fr"
) -> Notification:
    """Write one message: its template (`kind`) and its values as the change left them, so
    that what is sent is what the change was. A value that is a secret (a code, a link
    with a key) is given as a `Secret` and only its key is stored; the text is made when
    the message is sent (outreach/rendering.py)."""
    parameters, derived = parameters_split(context)
    return Notification.objects.create(
        channel=channel,
        to=to,
        to_index=notification_to_index(to),
        kind=kind,
        event=event,
        language=language,
        parameters=parameters,
        derived=derived,
    )


LETTER_BATCH_SIZE = 500


@unit_of_work
def letter_batch_create(
    *, actor: Actor, limit: int = LETTER_BATCH_SIZE, now: datetime | None = None
) -> LetterBatch:
    """Take the oldest waiting letters into a new batch to print and post; they are sent.

    The UPDATE is conditional (still waiting), so two agents printing at once never take
    the same letter. On PostgreSQL the rows are first locked, skipping those another
    batch is taking, so that the second agent gets the next letters rather than none;
    SQLite runs one writer at a time. A batch that took nothing rolls back.
    """
    now = now or timezone.now()
    nothing = InvalidInput(gettext("Aucun courrier n'attend d'être imprimé."))
    # LETTERS_WAITING alone, as the partial index outbox_letters_waiting is written.
    waiting = list(
        Notification.objects.filter(LETTERS_WAITING)
        .select_for_update(skip_locked=True)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    if not waiting:
        raise nothing
    batch = LetterBatch.objects.create(created_at=now, created_by=actor.user)
    taken = Notification.objects.filter(LETTERS_WAITING, pk__in=waiting).update(
        batch=batch, status=Notification.Status.SENT, sent_at=now, attempts=F("attempts") + 1
    )
    if not taken:
        raise nothing
    LetterBatch.objects.filter(pk=batch.pk).update(letters=taken)
    batch.letters = taken
    audit_record(
        actor=actor,
        action="export",
        obj=batch,
        summary=gettext("Lot de %(count)s courrier(s) à imprimer") % {"count": taken},
    )
    return batch


@dataclass(frozen=True)
class Delivery:
    """What became of one message in a batch."""

    notification_id: int
    channel: str
    kind: str
    attempt: int
    outcome: str  # "sent", "retry" (pending again, later) or "failed" (for good)
    error: str = ""


@dataclass
class OutboxReport:
    deliveries: list[Delivery] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for delivery in self.deliveries if delivery.outcome == outcome)

    @property
    def sent(self) -> int:
        return self.count("sent")

    @property
    def retried(self) -> int:
        return self.count("retry")

    @property
    def failed(self) -> int:
        return self.count("failed")


def outbox_send(
    *, limit: int = 100, now: datetime | None = None, stop: threading.Event | None = None
) -> OutboxReport:
    """Send up to `limit` due messages (SMS and e-mail; letters stay pending).

    Any number of workers may run this at once, in threads or processes: each row is
    taken by one conditional UPDATE (due → sending, attempts + 1) that a single worker
    can win, never by reading then writing, and the row is taken just before it is sent,
    one at a time, so a claim lasts one send. A worker that died while sending leaves
    its row "sending"; after CLAIM_TIMEOUT another takes it again (the one case where a
    message may go twice: the provider may have taken it before the worker died).

    `now` fixes the clock (tests); otherwise each step reads it. `stop`, when set,
    ends the batch between two messages (the worker's SIGTERM).
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else timezone.now
    report = OutboxReport()
    due = list(
        Notification.objects.filter(WORKER_ROWS, next_attempt_at__lte=clock())
        .order_by("next_attempt_at", "id")
        .values_list("pk", "attempts")[:limit]
    )
    # Workers that start together read the same page: each tries it in its own order,
    # so that they mostly take different rows instead of all losing the same races.
    random.shuffle(due)
    senders = _Senders()
    try:
        for notification_id, attempts in due:
            if stop is not None and stop.is_set():
                break
            delivery = _deliver_one(notification_id, attempts, clock=clock, senders=senders)
            if delivery is not None:
                report.deliveries.append(delivery)
    finally:
        senders.close()
    return report


def _deliver_one(
    notification_id: int, attempts: int, *, clock: Callable[[], datetime], senders: "_Senders"
) -> Delivery | None:
    """Take one row, send it, record what happened; None when another worker has it."""
    taken_at = clock()
    if attempts >= MAX_ATTEMPTS:
        # Only a stale claim gets here: its worker died during the last attempt allowed.
        given_up = Notification.objects.filter(
            pk=notification_id,
            status=Notification.Status.SENDING,
            attempts=attempts,
            next_attempt_at__lte=taken_at,
        ).update(
            status=Notification.Status.FAILED,
            last_error="the worker sending the last attempt stopped before it finished",
        )
        if not given_up:
            return None
        notification = Notification.objects.only("channel", "kind").get(pk=notification_id)
        return Delivery(
            notification_id,
            notification.channel,
            notification.kind,
            attempts,
            "failed",
            "worker stopped",
        )
    # The claim: the database decides which worker wins (invariant: sent at most once).
    taken = Notification.objects.filter(
        pk=notification_id,
        status__in=TAKEN,
        attempts=attempts,
        next_attempt_at__lte=taken_at,
    ).update(
        status=Notification.Status.SENDING,
        attempts=F("attempts") + 1,
        claimed_at=taken_at,
        next_attempt_at=taken_at + CLAIM_TIMEOUT,
    )
    if not taken:
        return None
    attempt = attempts + 1
    notification = Notification.objects.get(pk=notification_id)
    # This worker's claim is (sending, this attempt number): recording the outcome under
    # it never overwrites a later claim made after this one went stale.
    mine = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.SENDING, attempts=attempt
    )
    try:
        senders.send(notification)
    except Exception as error:
        permanent = isinstance(error, SendError) and error.permanent
        text = str(error) if isinstance(error, SendError) else f"{type(error).__name__}: {error}"
        text = text[:ERROR_LENGTH]
        if permanent or attempt >= MAX_ATTEMPTS:
            mine.update(status=Notification.Status.FAILED, last_error=text)
            outcome = "failed"
        else:
            mine.update(
                status=Notification.Status.PENDING,
                next_attempt_at=clock() + RETRY_DELAYS[attempt - 1],
                last_error=text,
            )
            outcome = "retry"
        if not isinstance(error, SendError):
            logger.exception("outbox: notification %s raised while sending", notification_id)
        return Delivery(
            notification_id, notification.channel, notification.kind, attempt, outcome, text
        )
    done = {"status": Notification.Status.SENT, "sent_at": clock(), "last_error": ""}
    if "written_text" in notification.parameters:
        # A row written before messages were rendered when sent (outreach/0005): its
        # text, which may hold a code or a key, goes once sent.
        done["parameters"] = {}
    if not mine.update(**done):
        logger.warning(
            "outbox: notification %s was sent after its claim went stale", notification_id
        )
    return Delivery(notification_id, notification.channel, notification.kind, attempt, "sent")


class _Senders:
    """The backends of one batch, opened when first needed: one SMTP connection for all
    the e-mails of a batch, reopened after an error."""

    def __init__(self) -> None:
        self._sms: SmsBackend | None = None
        self._mail = None

    def send(self, notification: Notification) -> None:
        """Render the message now (its secrets derived, nothing stored) and hand it over."""
        if notification.channel not in (Notification.Channel.SMS, Notification.Channel.EMAIL):
            raise SendError(f"no sender for channel {notification.channel}", permanent=True)
        rendered = notification_render(notification=notification)
        if notification.channel == Notification.Channel.SMS:
            if self._sms is None:
                self._sms = sms_backend()
            self._sms.send(to=notification.to, text=rendered.body)
        else:
            self._send_email(notification, rendered)

    def _send_email(self, notification: Notification, rendered: RenderedMessage) -> None:
        if self._mail is None:
            self._mail = get_connection(fail_silently=False)
        message = EmailMessage(
            subject=rendered.subject,
            body=rendered.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.to],
            connection=self._mail,
        )
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as error:
            self.close()
            raise SendError(f"SMTP refused the address: {error}", permanent=True) from error
        except smtplib.SMTPResponseException as error:
            self.close()
            detail = error.smtp_error
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            # 5xx: the server will never take it; 4xx: later.
            raise SendError(
                f"SMTP {error.smtp_code}: {detail}", permanent=500 <= error.smtp_code < 600
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise SendError(f"SMTP: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        if self._mail is not None:
            try:
                self._mail.close()
            except Exception:  # a broken connection: the next message opens a new one
                logger.debug("outbox: closing the mail connection failed", exc_info=True)
            self._mail = None


# A worker's row older than this belongs to a process long gone.
HEARTBEAT_FORGOTTEN = timedelta(hours=1)


def worker_heartbeat_beat(*, worker: str, now: datetime | None = None) -> None:
    """Record that `worker` (host:pid) is alive; /healthz reads the latest beat."""
    now = now or timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"beat_at": now})
    WorkerHeartbeat.objects.filter(beat_at__lt=now - HEARTBEAT_FORGOTTEN).delete()
