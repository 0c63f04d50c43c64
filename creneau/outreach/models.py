from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from creneau.core.crypto import address_index
from creneau.core.fields import EncryptedJSONField, EncryptedTextField

# The rows the delivery worker may take: pending or sending, not letters (they wait for
# printing). The worker's query repeats this very condition so that the partial index
# serves it: SQLite matches an index's WHERE term by term, and not through `IN` with
# bound parameters.
WORKER_ROWS = (Q(status="pending") | Q(status="sending")) & ~Q(channel="letter")
# The letters no batch has taken yet (letter_batch_create's query repeats it).
LETTERS_WAITING = Q(channel="letter", status="pending")


def notification_to_index(to: str) -> str:
    """Notification.to_index: the blind index of a recipient, in the contacts' comparison
    form (core.crypto.address_index) under the outbox's own purpose, so that the outbox
    and the contacts cannot be joined on their indexes."""
    return address_index(to, purpose="outreach.notification.to")


class LetterBatch(models.Model):
    """Letters printed together: each pending letter joins one batch only, and is sent
    (handed to the post) with it. The batch can be printed again, say after a jam."""

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    letters = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Lot {self.pk} ({self.letters})"


class Notification(models.Model):
    """One message to send: the outbox row, written in the transaction of what it tells.

    `event` names the change it reports (e.g. "series:7K2MQ9XA4:v3:booking_moved"); with
    the channel it is unique, so one change can never enqueue a message twice
    (invariant 5).

    Delivery (`services.outbox_send`): a worker takes a row by a conditional update
    (pending → sending, `attempts` + 1), which only one worker can win. `next_attempt_at`
    is when the row may next be taken: for a pending row, after the backoff of its last
    failure; for a sending row, when its claim goes stale (a worker that died).
    """

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        LETTER = "letter", _("Courrier")

    class Kind(models.TextChoices):
        VERIFICATION_CODE = "verification_code", _("Code de vérification")
        BOOKING_CONFIRMED = "booking_confirmed", _("Rendez-vous confirmé")
        BOOKING_MOVED = "booking_moved", _("Rendez-vous déplacé")
        BOOKING_CANCELLED = "booking_cancelled", _("Rendez-vous annulé")

    class Status(models.TextChoices):
        PENDING = "pending", _("À envoyer")
        SENDING = "sending", _("Envoi en cours")
        SENT = "sent", _("Envoyé")
        FAILED = "failed", _("Échec")

    channel = models.CharField(max_length=10, choices=Channel.choices)
    # A phone number, an e-mail address, or a letter's name and address lines, encrypted
    # at rest (core.fields); found by `to_index` (notification_to_index).
    to = EncryptedTextField()
    to_index = models.CharField(max_length=64)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    event = models.CharField(max_length=100)
    language = models.CharField(max_length=5, default="fr")
    # The template's values (outreach/<kind>.txt), none of them secret but personal (a
    # name, a site, times), so encrypted at rest; or, for a row written before messages
    # were rendered when sent, its text ("written_text", outreach/0005). The text is made
    # when the message is sent and never kept (outreach/rendering.py).
    parameters = EncryptedJSONField(default=dict, blank=True)
    # The secrets the message carries, as what they are derived from when it is sent:
    # template name → [kind, key], e.g. "code" → ["verification_code", <verification id>].
    derived = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    batch = models.ForeignKey(
        LetterBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["to_index", "id"], name="outbox_to"),
            # What the delivery worker polls, by when rows are due. However many letters
            # are pending, its query never walks over them.
            models.Index(
                fields=["next_attempt_at", "id"], condition=WORKER_ROWS, name="outbox_due"
            ),
            # The letters waiting for the next printed batch.
            models.Index(fields=["id"], condition=LETTERS_WAITING, name="outbox_letters_waiting"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel"], name="notification_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(batch__isnull=True) | Q(channel="letter"),
                name="notification_batch_is_letters",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"


class WorkerHeartbeat(models.Model):
    """A message worker says it is alive (`manage.py outbox_send --forever`), for
    /healthz: one row per worker process, the rows of long-gone ones pruned as they beat."""

    worker = models.CharField(max_length=100, primary_key=True)
    beat_at = models.DateTimeField()
