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


class Priority(models.IntegerChoices):
    """The order the worker sends in: a code someone waits for on the booking page first,
    then what tells of an appointment's change, then reminders, then invitations (of which
    a campaign may queue hundreds of thousands at once). Lower goes first."""

    CODE = 0, _("Code")
    APPOINTMENT = 1, _("Rendez-vous")
    REMINDER = 2, _("Rappel")
    INVITATION = 3, _("Invitation")


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
        APPOINTMENT_REMINDER = "appointment_reminder", _("Rappel de rendez-vous")
        DOSE2_RECALL = "dose2_recall", _("Rappel de la 2e dose")
        INVITATION = "invitation", _("Invitation")
        INVITATION_REMINDER = "invitation_reminder", _("Relance d'invitation")

    class Status(models.TextChoices):
        PENDING = "pending", _("À envoyer")
        SENDING = "sending", _("Envoi en cours")
        SENT = "sent", _("Envoyé")
        # The provider's receipt said the phone got it (SMS only: e-mail has none).
        DELIVERED = "delivered", _("Remis")
        FAILED = "failed", _("Échec")
        # Not sent: the address asked for no more invitations and reminders (OptOut).
        OPTED_OUT = "opted_out", _("Non envoyé (désinscrit)")
        # Not sent: what it was about no longer stands when its turn came (a reminder of
        # an appointment cancelled or moved while the reminder waited out the night).
        WITHDRAWN = "withdrawn", _("Non envoyé (plus d'actualité)")

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
    # Set from the kind when the row is written (KIND_PRIORITY): the worker's claim takes
    # the lowest first.
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.APPOINTMENT
    )
    # Where the message goes next if this one fails for good (an error the provider says
    # is permanent, every attempt spent, or a receipt saying it never arrived): a list of
    # [channel, address], the first taken, the rest carried by the row it becomes.
    # Addresses: encrypted at rest like `to`.
    fallbacks = EncryptedJSONField(default=list, blank=True)
    # The row this one replaces after it failed (its fallback), for the delivery report.
    fallback_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # When the provider's receipt came (delivered or failed).
    receipt_at = models.DateTimeField(null=True, blank=True)
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
            # What the delivery worker polls: by priority, then by when rows are due. A
            # code written while 200,000 invitations wait is the first entry the claim's
            # ordered scan reads; however many letters are pending, it never walks over
            # them.
            models.Index(
                fields=["priority", "next_attempt_at", "id"],
                condition=WORKER_ROWS,
                name="outbox_due_by_priority",
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


# The priority of each kind; a kind another app adds without a place here is sent as an
# appointment's message.
KIND_PRIORITY = {
    Notification.Kind.VERIFICATION_CODE: Priority.CODE,
    Notification.Kind.BOOKING_CONFIRMED: Priority.APPOINTMENT,
    Notification.Kind.BOOKING_MOVED: Priority.APPOINTMENT,
    Notification.Kind.BOOKING_CANCELLED: Priority.APPOINTMENT,
    Notification.Kind.APPOINTMENT_REMINDER: Priority.REMINDER,
    Notification.Kind.DOSE2_RECALL: Priority.REMINDER,
    Notification.Kind.INVITATION: Priority.INVITATION,
    Notification.Kind.INVITATION_REMINDER: Priority.INVITATION,
}
# Reminders and invitations: what an opt-out stops, what carries an unsubscribe link, and
# what waits out the quiet hours. Never a code or a message about a change to an
# appointment the person holds.
OPTIONAL_PRIORITIES = (Priority.REMINDER, Priority.INVITATION)


class OptOut(models.Model):
    """An address that asked for no more invitations and reminders: a "STOP" answered to an
    SMS (the provider's webhook) or the unsubscribe link of a message. Kept by the blind
    index of the address in the outbox's form (`notification_to_index`), so the address
    itself is not stored and a row's `to_index` finds it."""

    class Source(models.TextChoices):
        STOP = "stop", _("Réponse STOP")
        LINK = "link", _("Lien de désinscription")

    address_index = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(default=timezone.now)


class JobRun(models.Model):
    """When a background job of the worker's schedule (core.jobs) runs next, shared by all
    workers: each due run is claimed by one conditional UPDATE, so one worker runs it."""

    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)


class WorkerHeartbeat(models.Model):
    """A worker says it is alive (`manage.py worker`), for
    /healthz: one row per worker process, the rows of long-gone ones pruned as they beat."""

    worker = models.CharField(max_length=100, primary_key=True)
    beat_at = models.DateTimeField()
