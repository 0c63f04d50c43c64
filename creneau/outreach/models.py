from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """One message to send: the outbox row, written in the transaction of what it tells.

    `event` names the change it reports (e.g. "series:7K2MQ9XA4:v3:booking_moved"); with
    the channel it is unique, so one change can never enqueue a message twice
    (invariant 5).
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
        SENT = "sent", _("Envoyé")
        FAILED = "failed", _("Échec")

    channel = models.CharField(max_length=10, choices=Channel.choices)
    to = models.CharField(max_length=254)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    event = models.CharField(max_length=100)
    language = models.CharField(max_length=5, default="fr")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["to", "id"]),
            models.Index(
                fields=["status", "id"], condition=Q(status="pending"), name="outbox_pending"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel"], name="notification_once_per_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.to}"
