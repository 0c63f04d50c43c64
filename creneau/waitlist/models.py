"""The waiting list for leftover doses: who waits (encrypted, like booking.Person), where
and when they can come; the leftover doses a site declares; the offers sent in waves.

Every offer, acceptance and expiry stays a row (`Offer`, its status and times): what the
staff page and an authority read."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from creneau.booking.models import Contact, Series
from creneau.core.fields import EncryptedDateField, EncryptedJSONField, EncryptedTextField
from creneau.scheduling.models import Session, Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

MAX_RADIUS_KM = 30
NOTICE_MINUTES = (30, 120)


class PriorityBand(models.Model):
    """The order in which offers go, as an authority sets it (Django's admin): people in
    the band of the lowest `rank` first, a band being everyone from `min_age` up to the
    next band's age; then the nearest; then the longest on the list."""

    min_age = models.PositiveSmallIntegerField(unique=True)
    rank = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-min_age"]

    def __str__(self) -> str:
        return self.label or f"{self.min_age}+"


class WaitlistEntry(models.Model):
    """One person waiting for a leftover dose, registered by a verified contact (the
    portal) or by a call-centre agent (`by`)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Inscrite")
        LEFT = "left", _("Sortie de la liste")
        EXPIRED = "expired", _("Expirée")
        SERVED = "served", _("Dose acceptée")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    # Encrypted like booking.Person (core.fields); `person_key` is the same blind index as
    # Person.match_key and Series.person_key (booking.persons.person_index).
    given_name = EncryptedTextField()
    family_name = EncryptedTextField()
    birth_date = EncryptedDateField()
    # The year alone, in clear, like campaigns.Invitee's: the priority order is the age
    # band of the age reached this year, sorted by the database (wave_candidates), which
    # cannot read the birth date.
    birth_year = models.PositiveSmallIntegerField()
    categories = EncryptedJSONField(default=list, blank=True)
    person_key = models.CharField(max_length=250)
    # The place typed (a town, a postcode) and its position: a commune's, not a home's.
    place_label = models.CharField(max_length=100)
    latitude = models.FloatField()
    longitude = models.FloatField()
    grid_cell = models.IntegerField()
    radius_km = models.PositiveSmallIntegerField()
    # [{"days": [0..6] (0 = Monday), "start": "HH:MM", "end": "HH:MM"}, …], local time.
    windows = models.JSONField()
    notice_minutes = models.PositiveSmallIntegerField()
    vaccines = models.ManyToManyField(Vaccine, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # When it left the list (left, expired, served): the retention purge counts from it.
    ended_at = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["status", "grid_cell"], name="waitlist_entry_near"),
            models.Index(fields=["status", "ended_at"], name="waitlist_entry_ended"),
        ]
        constraints = [
            # One active entry per person, across contacts (issue 20, item 5).
            models.UniqueConstraint(
                fields=["person_key"],
                condition=Q(status="active"),
                name="one_active_entry_per_person",
            ),
            models.CheckConstraint(
                condition=Q(radius_km__gte=1, radius_km__lte=MAX_RADIUS_KM),
                name="waitlist_radius_1_to_30",
            ),
            models.CheckConstraint(
                condition=Q(notice_minutes__in=NOTICE_MINUTES), name="waitlist_notice_known"
            ),
            # An entry off the list says since when; an active one has no end yet.
            models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True)
                | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="waitlist_entry_ended_when_not_active",
            ),
        ]


class Leftover(models.Model):
    """Doses left at a site today (a vial opened, people who did not come), declared by its
    staff: a short session of `doses` places backed by the stock, offered to the list.

    `accepted` counts the places taken through offers; with `status` it is the row every
    acceptance updates first (`accepted < doses AND status = 'open'`), so a cancellation
    and the acceptances are decided one after the other."""

    class Status(models.TextChoices):
        OPEN = "open", _("Proposées")
        ENDED = "ended", _("Terminée")
        CANCELLED = "cancelled", _("Annulée")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(Session, on_delete=models.PROTECT, related_name="leftover")
    lot = models.CharField(max_length=50)
    doses = models.PositiveSmallIntegerField()
    accepted = models.PositiveSmallIntegerField(default=0)
    until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(doses__gte=1, doses__lte=100), name="leftover_doses_1_to_100"
            ),
            # Never more accepted than declared.
            models.CheckConstraint(
                condition=Q(accepted__lte=F("doses")), name="leftover_accepted_within_doses"
            ),
        ]


class Offer(models.Model):
    """A leftover place offered to one person on the list, by a personal link valid
    OFFER_MINUTES; answered once (its status changes from `offered` by one conditional
    update)."""

    class Status(models.TextChoices):
        OFFERED = "offered", _("Proposée")
        ACCEPTED = "accepted", _("Acceptée")
        GONE = "gone", _("Plus de place")
        EXPIRED = "expired", _("Expirée")

    leftover = models.ForeignKey(Leftover, on_delete=models.PROTECT, related_name="offers")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    wave = models.PositiveSmallIntegerField()
    distance_km = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    slot = models.ForeignKey(
        Slot, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["wave", "id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="offer_live")]
        constraints = [
            models.UniqueConstraint(fields=["leftover", "entry"], name="offer_once_per_entry"),
            models.CheckConstraint(
                condition=~Q(status="accepted") | Q(slot__isnull=False),
                name="offer_accepted_has_slot",
            ),
        ]
