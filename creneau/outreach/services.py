"""The outbox: messages are rows written in the transaction of the change they report.

A rolled-back change leaves no row, and a committed one leaves exactly one per channel
(invariant 5). Sending them is `outbox_send`'s job, run by the worker
(`manage.py worker`), as many at once as wanted: by priority (codes first, invitations
last), at a rate per channel all workers share, reminders and invitations never in the
quiet hours nor to an address that opted out; a message that fails for good goes on to
its fallback, if it has one.
"""

import logging
import math
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from creneau.admission.counters import counter_add
from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import row_insert, unit_of_work, update_returning
from creneau.core.errors import InvalidInput

from .models import (
    KIND_PRIORITY,
    LETTERS_WAITING,
    OPTIONAL_PRIORITIES,
    LetterBatch,
    Notification,
    OptOut,
    Priority,
    WorkerHeartbeat,
    notification_to_index,
)
from .quiet import outbox_sendable, quiet_hours_end
from .rendering import (
    UNSUBSCRIBE_LINK,
    RenderedMessage,
    Secret,
    notification_render,
    parameters_split,
    unsubscribe_token_read,
)
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

StillDue = Callable[[Notification], bool]
_still_due: dict[str, StillDue] = {}


def message_still_due(*kinds: str) -> Callable[[StillDue], StillDue]:
    """Declare, for messages of these kinds, how to tell when one is about to go whether
    what it is about still stands (booking/messages.py: the appointment a reminder names
    is still booked at that time). A reminder may wait hours (the quiet hours) between
    being written and going: it is checked when it goes, by the app that owns what it is
    about, so that outreach imports nothing above it."""

    def register(still_due: StillDue) -> StillDue:
        for kind in kinds:
            _still_due[kind] = still_due
        return still_due

    return register


@dataclass(frozen=True)
class OutboxMessage:
    """One message to write (notification_build's arguments, for
    notifications_enqueue_many)."""

    channel: str
    to: str
    kind: str
    event: str
    context: dict
    language: str = "fr"
    fallbacks: Sequence[tuple[str, str]] = ()
    priority: int | None = None
    not_before: datetime | None = None


def notification_enqueue(**message: Any) -> Notification:
    """Write one message, in the transaction of the change it tells of (the outbox):
    notification_build's arguments, keyword-only."""
    notification = notification_build(**message)
    # Written by hand-written SQL from the model's own columns (core.db.row_insert): the
    # booking hot path's insert, without the ORM's query building (issue 15).
    row_insert(notification)
    return notification


def notification_build(
    *,
    channel: str,
    to: str,
    kind: str,
    event: str,
    context: dict,
    language: str = "fr",
    fallbacks: Sequence[tuple[str, str]] = (),
    priority: int | None = None,
    not_before: datetime | None = None,
) -> Notification:
    """One message, not yet written (notification_enqueue writes it; the booking hot path
    writes it with the course, booking.sql): its template (`kind`) and its values as the
    change left them, so that what is sent is what the change was. A value that is a
    secret (a code, a link with a key) is given as a `Secret` and only its key is stored;
    the text is made when the message is sent (outreach/rendering.py).

    `priority` defaults to the kind's (KIND_PRIORITY). A reminder or an invitation
    (OPTIONAL_PRIORITIES) carries an unsubscribe link (`unsubscribe_link` in its
    template), is written already "opted out" (and never sent) for an address that asked
    for no more, and waits out the quiet hours. `fallbacks`: where it goes next, in order,
    should it fail for good ([channel, address] each). `not_before`: not sent earlier.
    """
    notification = _notification_build(
        OutboxMessage(
            channel=channel,
            to=to,
            kind=kind,
            event=event,
            context=context,
            language=language,
            fallbacks=fallbacks,
            priority=priority,
            not_before=not_before,
        ),
        now=timezone.now(),
    )
    _opt_outs_apply([notification])
    return notification


def notifications_enqueue_many(*, messages: Sequence[OutboxMessage]) -> list[Notification]:
    """notification_enqueue for many messages at once (a campaign's wave), with the same
    rules (notification_build): the opt-outs of the whole batch read in one query, the
    rows written by one INSERT, in the caller's transaction. Returned in the order given,
    with their ids."""
    now = timezone.now()
    notifications = [_notification_build(message, now=now) for message in messages]
    _opt_outs_apply(notifications)
    return Notification.objects.bulk_create(notifications)


def _notification_build(message: OutboxMessage, *, now: datetime) -> Notification:
    """The row of one message, not yet saved nor checked against the opt-outs (see
    notification_build)."""
    priority = message.priority
    if priority is None:
        priority = KIND_PRIORITY.get(message.kind, Priority.APPOINTMENT)
    to_index = notification_to_index(message.to)
    context = message.context
    if priority in OPTIONAL_PRIORITIES:
        context = {**context, "unsubscribe_link": Secret(UNSUBSCRIBE_LINK, to_index)}
    parameters, derived = parameters_split(context)
    due = max(now, message.not_before) if message.not_before is not None else now
    if priority in OPTIONAL_PRIORITIES and message.channel != Notification.Channel.LETTER:
        due = quiet_hours_end(due) or due
    return Notification(
        channel=message.channel,
        to=message.to,
        to_index=to_index,
        kind=message.kind,
        event=message.event,
        language=message.language,
        parameters=parameters,
        derived=derived,
        priority=priority,
        fallbacks=[[channel, address] for channel, address in message.fallbacks],
        next_attempt_at=due,
        status=Notification.Status.PENDING,
    )


OPT_OUT_LOOKUP = 500


def _opt_outs_apply(notifications: Sequence[Notification]) -> None:
    """Write a reminder or an invitation to an address that opted out already "opted
    out": one query for all of them, by the addresses' blind indexes."""
    optional = [n for n in notifications if n.priority in OPTIONAL_PRIORITIES]
    if not optional:
        return
    indexes = sorted({notification.to_index for notification in optional})
    opted_out = set()
    # In slices: SQLite takes at most 999 parameters in a query on older builds.
    for start in range(0, len(indexes), OPT_OUT_LOOKUP):
        opted_out.update(
            OptOut.objects.filter(
                address_index__in=indexes[start : start + OPT_OUT_LOOKUP]
            ).values_list("address_index", flat=True)
        )
    for notification in optional:
        if notification.to_index in opted_out:
            notification.status = Notification.Status.OPTED_OUT


def _fallback_enqueue(notification: Notification) -> Notification | None:
    """The next message of a failed one's chain, if it declared one: the same template,
    values and priority, to the next address. Inside the transaction that recorded the
    failure, which only one caller wins; the event's suffix keeps each step unique."""
    if not notification.fallbacks:
        return None
    (channel, to), *rest = notification.fallbacks
    secrets = {
        name: Secret(kind, key)
        for name, (kind, key) in notification.derived.items()
        if kind != UNSUBSCRIBE_LINK  # made again for the new address
    }
    fallback = notification_enqueue(
        channel=channel,
        to=to,
        kind=notification.kind,
        event=f"{notification.event}>{channel}",
        context={**notification.parameters, **secrets},
        language=notification.language,
        fallbacks=[tuple(step) for step in rest],
        priority=notification.priority,
    )
    Notification.objects.filter(pk=fallback.pk).update(fallback_of=notification.pk)
    return fallback


def _fail(notification_id: int, claim: Q, *, error: str, **fields: object) -> bool:
    """Record a failure for good under `claim` (a condition only the caller's state of the
    row meets) and enqueue its fallback in the same transaction: two receipts, or a
    receipt and a worker, never enqueue it twice."""
    with transaction.atomic():
        failed = Notification.objects.filter(claim, pk=notification_id).update(
            status=Notification.Status.FAILED, last_error=error[:ERROR_LENGTH], **fields
        )
        if failed:
            _fallback_enqueue(Notification.objects.get(pk=notification_id))
    return bool(failed)


def optout_record(*, address: str, source: str) -> bool:
    """No more invitations and reminders to `address` (a phone number in E.164, an e-mail
    address): those waiting are not sent, later ones are written opted out. Messages about
    an appointment are never stopped. True when the address had not opted out yet."""
    return optout_record_index(address_index=notification_to_index(address), source=source)


def optout_by_link(*, token: str) -> bool:
    """The unsubscribe link of a reminder or an invitation was followed and confirmed.
    True when the address had not opted out yet; a link not signed here is refused."""
    address_index = unsubscribe_token_read(token[:200])
    if address_index is None:
        raise InvalidInput(gettext("Ce lien de désinscription n'est pas valide."))
    return optout_record_index(address_index=address_index, source=OptOut.Source.LINK)


def optout_record_index(*, address_index: str, source: str) -> bool:
    """optout_record for an address known by its index (the unsubscribe link's)."""
    try:
        with transaction.atomic():
            OptOut.objects.create(address_index=address_index, source=source)
    except IntegrityError:  # already opted out (or at this very moment, by another)
        return False
    return True


@dataclass(frozen=True)
class Receipt:
    """What the provider says became of one message it took."""

    reference: str  # the id the message was sent under (the provider's idempotency key)
    delivered: bool
    error: str = ""


def delivery_receipt_record(*, receipt: Receipt, now: datetime | None = None) -> bool:
    """Mark an SMS delivered or failed from its receipt; a failed one goes on to its
    fallback. A conditional update: a receipt sent twice (providers retry) changes the
    row once; one for a message that is not an SMS taken by a worker changes nothing.
    True when it changed the row."""
    now = now or timezone.now()
    if not receipt.reference.isascii() or not receipt.reference.isdigit():
        return False
    # A receipt may overtake the worker's own "sent" (the provider answered, then the
    # receipt came, before the worker wrote down the answer): sending counts too.
    notification_id = int(receipt.reference)
    claim = Q(
        channel=Notification.Channel.SMS,
        status__in=(Notification.Status.SENDING, Notification.Status.SENT),
    )
    if receipt.delivered:
        return bool(
            Notification.objects.filter(claim, pk=notification_id).update(
                status=Notification.Status.DELIVERED, receipt_at=now
            )
        )
    error = f"receipt: {receipt.error or 'not delivered'}"
    return _fail(notification_id, claim, error=error, receipt_at=now)


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
    # Handed to the provider (sent, or tried and failed): it counted against the rate.
    handed: bool = False


@dataclass
class OutboxReport:
    deliveries: list[Delivery] = field(default_factory=list)
    # When the batch ended because every channel with messages due had spent its rate:
    # the seconds until one may send again (0: it ended for another reason).
    throttled_for: float = 0.0

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


# A rate's window: the count of messages a channel sent in the current second.
RATE_WINDOW_SECONDS = 1
# A claim takes at most what its channel's rate allows in this long, and at most
# CLAIM_MOST rows: few enough that a code waits behind no long claim and that a worker
# killed mid-claim leaves few rows to the claim timeout; enough that the claim and the
# rate's count are one round trip for several messages.
CLAIM_SECONDS = 0.1
CLAIM_MOST = 20


def outbox_send(
    *,
    limit: int = 100,
    now: datetime | None = None,
    stop: threading.Event | None = None,
    seconds: float | None = None,
) -> OutboxReport:
    """Send up to `limit` due messages (SMS and e-mail; letters stay pending), the lowest
    priority first.

    Any number of workers may run this at once, in threads or processes. Each round
    reads the head of the queue (the due rows by priority), reserves a few messages of
    the first channel's rate, claims that many rows of that channel and priority in one
    statement (`_claim`: due → sending, attempts + 1; a row is claimed by one worker
    only) and sends them one by one, then reads the queue again: a code written
    meanwhile goes in the next claim. A worker that died while sending leaves its claim
    "sending"; after CLAIM_TIMEOUT another takes it again (the one case where a message
    may go twice: the provider may have taken it before the worker died; it gets the
    row's id as its idempotency key).

    A channel whose rate is spent is left until its next window while the other one
    sends; the batch ends when every channel with messages due has spent its rate
    (`throttled_for` says for how long). `seconds` ends the batch after that long (once
    a claim was made; the claim in hand is sent first), so that the worker reads the
    queue again. `now` fixes the clock (tests); otherwise each step reads it. `stop`,
    when set, ends the batch after the claim in hand (the worker's SIGTERM).
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else timezone.now
    started = time.monotonic()
    report = OutboxReport()
    # The channels whose rate was spent, and when that window ends (time.time()).
    throttled: dict[str, float] = {}
    claims = 0
    senders = _Senders()
    try:
        while len(report.deliveries) < limit:
            if stop is not None and stop.is_set():
                break
            if seconds is not None and claims and time.monotonic() - started >= seconds:
                break
            head = (
                Notification.objects.filter(outbox_sendable(clock()))
                .order_by("priority", "next_attempt_at", "id")
                .values_list("pk", "channel", "priority")[:limit]
            )
            # One claim takes one channel and one priority: by priority, then the
            # channel that comes first.
            groups: dict[tuple[int, str], list[int]] = {}
            for pk, channel, priority in head:
                groups.setdefault((priority, channel), []).append(pk)
            claimed = False
            for (_priority, channel), ids in groups.items():
                if time.time() < throttled.get(channel, 0.0):
                    continue
                reserved_at = time.time()
                wanted = min(len(ids), _claim_size(channel), limit - len(report.deliveries))
                granted = _rate_reserve(channel, wanted, now=reserved_at)
                if not granted:
                    throttled[channel] = _window_end(reserved_at)
                    continue
                rows = _claim(ids, granted, taken_at=clock())
                deliveries = _claimed_send(rows, clock=clock, senders=senders)
                handed = sum(1 for delivery in deliveries if delivery.handed)
                _rate_give_back(channel, granted - handed, reserved_at=reserved_at)
                report.deliveries += deliveries
                claims += 1
                claimed = True
                break
            if not claimed:
                # Nothing due, or every channel with messages due spent its rate.
                if groups:
                    spent_until = min(throttled[channel] for _priority, channel in groups)
                    report.throttled_for = max(0.0, spent_until - time.time())
                break
    finally:
        senders.close()
    return report


def _claim_size(channel: str) -> int:
    rate = settings.OUTBOX_RATES.get(channel, 0)
    if not rate:
        return CLAIM_MOST
    return max(1, min(CLAIM_MOST, math.ceil(rate * CLAIM_SECONDS)))


def _rate_key(channel: str) -> str:
    return f"outbox:rate:{channel}"


def _window_end(moment: float) -> float:
    return moment - moment % RATE_WINDOW_SECONDS + RATE_WINDOW_SECONDS


def _rate_reserve(channel: str, wanted: int, *, now: float) -> int:
    """Reserve up to `wanted` messages of the channel's rate (settings.OUTBOX_RATES,
    messages a second, counted where every worker counts: admission's shared counters,
    Redis or the database) with one count; how many were granted (0: the window's rate
    is spent). What was asked beyond the grant stays counted: the window is spent
    either way."""
    rate = settings.OUTBOX_RATES.get(channel, 0)
    if not rate:
        return wanted
    # Never more than the rate allows in what is left of the window: messages reserved
    # at its very end would go in the next one, on top of that one's rate.
    left = _window_end(now) - now
    wanted = max(1, min(wanted, math.ceil(rate * left)))
    count = counter_add(key=_rate_key(channel), window=RATE_WINDOW_SECONDS, amount=wanted, now=now)
    before = count.hits - wanted
    return max(0, min(wanted, math.floor(rate - before)))


def _rate_give_back(channel: str, unused: int, *, reserved_at: float) -> None:
    """Messages reserved and not handed to the provider (the claim found fewer rows,
    some opted out or were withdrawn) go back to their window, while it lasts, for the
    next claim of any worker."""
    if unused <= 0 or not settings.OUTBOX_RATES.get(channel, 0):
        return
    if time.time() >= _window_end(reserved_at):
        return
    counter_add(key=_rate_key(channel), window=RATE_WINDOW_SECONDS, amount=-unused, now=reserved_at)


def _claim(ids: list[int], count: int, *, taken_at: datetime) -> list[Notification]:
    """Take up to `count` of these due rows (one channel, one priority), in the queue's
    order, for this worker, in one statement: UPDATE … WHERE id IN (SELECT … LIMIT n)
    RETURNING. On PostgreSQL the subquery locks the rows it picks and skips those another
    worker is claiming (FOR UPDATE SKIP LOCKED), so that workers claiming at once take
    different rows instead of waiting for each other; a row another worker claimed
    before is no longer due. SQLite runs one writer at a time. The claim: sending, one
    attempt more, due again only after CLAIM_TIMEOUT (a dead worker's)."""
    picked = (
        Notification.objects.filter(outbox_sendable(taken_at), pk__in=ids)
        .order_by("priority", "next_attempt_at", "id")
        .select_for_update(skip_locked=True)
        .values("pk")[:count]
    )
    with transaction.atomic():  # FOR UPDATE holds until the claim's statement ends
        rows = update_returning(
            Notification.objects.filter(pk__in=picked),
            status=Notification.Status.SENDING,
            attempts=F("attempts") + 1,
            claimed_at=taken_at,
            next_attempt_at=taken_at + CLAIM_TIMEOUT,
        )
    order = {pk: position for position, pk in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row.pk])


def _claimed_send(
    rows: list[Notification], *, clock: Callable[[], datetime], senders: "_Senders"
) -> list[Delivery]:
    """Send the rows of one claim, one by one, each outcome recorded as it comes (a
    worker killed mid-claim leaves only the unsent rows to the claim timeout)."""
    optional = {row.to_index for row in rows if row.priority in OPTIONAL_PRIORITIES}
    # Whether an address opted out since its message was written: one query a claim.
    opted_out = (
        set(
            OptOut.objects.filter(address_index__in=optional).values_list(
                "address_index", flat=True
            )
        )
        if optional
        else set()
    )
    return [
        _deliver_one(row, opted_out=row.to_index in opted_out, clock=clock, senders=senders)
        for row in rows
    ]


def _deliver_one(
    notification: Notification,
    *,
    opted_out: bool,
    clock: Callable[[], datetime],
    senders: "_Senders",
) -> Delivery:
    """Send one claimed row and record what happened."""
    notification_id, attempt = notification.pk, notification.attempts
    channel, kind = notification.channel, notification.kind
    # This worker's claim is (sending, this attempt number): recording the outcome under
    # it never overwrites a later claim made after this one went stale.
    claim = Q(status=Notification.Status.SENDING, attempts=attempt)
    mine = Notification.objects.filter(claim, pk=notification_id)
    if attempt > MAX_ATTEMPTS:
        # A stale claim whose worker died during the last attempt allowed: no more
        # tries (the claim's attempt is taken back).
        _fail(
            notification_id,
            claim,
            error="the worker sending the last attempt stopped before it finished",
            attempts=F("attempts") - 1,
        )
        return Delivery(notification_id, channel, kind, MAX_ATTEMPTS, "failed", "worker stopped")
    if notification.priority in OPTIONAL_PRIORITIES and opted_out:
        # The address opted out after this was written: a reminder or an invitation only.
        mine.update(status=Notification.Status.OPTED_OUT)
        return Delivery(notification_id, channel, kind, attempt, "opted_out")
    still_due = _still_due.get(kind)
    if still_due is not None and not still_due(notification):
        mine.update(status=Notification.Status.WITHDRAWN)
        return Delivery(notification_id, channel, kind, attempt, "withdrawn")
    try:
        senders.send(notification)
    except Exception as error:
        permanent = isinstance(error, SendError) and error.permanent
        text = str(error) if isinstance(error, SendError) else f"{type(error).__name__}: {error}"
        text = text[:ERROR_LENGTH]
        if permanent or attempt >= MAX_ATTEMPTS:
            _fail(notification_id, claim, error=text)
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
        return Delivery(notification_id, channel, kind, attempt, outcome, text, handed=True)
    done = {"status": Notification.Status.SENT, "sent_at": clock(), "last_error": ""}
    if "written_text" in notification.parameters:
        # A row written before messages were rendered when sent (outreach/0005): its
        # text, which may hold a code or a key, goes once sent.
        done["parameters"] = {}
    if (
        not mine.update(**done)
        and not Notification.objects.filter(pk=notification_id, receipt_at__isnull=False).exists()
    ):
        logger.warning(
            "outbox: notification %s was sent after its claim went stale", notification_id
        )
    return Delivery(notification_id, channel, kind, attempt, "sent", handed=True)


class _Senders:
    """The backends of one batch, opened when first needed: one SMTP connection for all
    the e-mails of a batch, reopened after an error, and one SMS backend (HttpBackend
    keeps its connection to the provider open)."""

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
            self._sms.send(to=notification.to, text=rendered.body, reference=str(notification.pk))
        else:
            self._send_email(notification, rendered)

    def _send_email(self, notification: Notification, rendered: RenderedMessage) -> None:
        if self._mail is None:
            self._mail = get_connection(fail_silently=False)
        # A reminder or an invitation: the mail client's own "unsubscribe" (RFC 8058's
        # one click, a POST to the same link the text carries).
        headers = (
            {
                "List-Unsubscribe": f"<{rendered.unsubscribe_link}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            if rendered.unsubscribe_link
            else {}
        )
        message = EmailMessage(
            subject=rendered.subject,
            body=rendered.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.to],
            connection=self._mail,
            headers=headers,
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
        if self._sms is not None:
            self._sms.close()
            self._sms = None
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
