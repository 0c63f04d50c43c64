"""Alerts when places open (issue 20, item 3): a verified contact subscribes a person to a
place, a radius and a vaccine (a first dose, or a second after a first given elsewhere);
when free places appear near it, the contact gets at most one message per 6 hours.

The person's names and birth date are encrypted like booking.Person's, the person found by
the same blind index (`person_key`), which is how a course booked for them ends the alert.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.booking.models import Contact
from creneau.core.fields import EncryptedDateField, EncryptedTextField
from creneau.vaccines.models import Vaccine

MAX_RADIUS_KM = 50
DOSE_NUMBERS = (1, 2)


class Subscription(models.Model):
    """One person's alert, by one contact: at most one running per contact and person."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("En cours")
        STOPPED = "stopped", _("Arrêtée")
        BOOKED = "booked", _("Rendez-vous pris")
        EXPIRED = "expired", _("Expirée")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    given_name = EncryptedTextField()
    family_name = EncryptedTextField()
    birth_date = EncryptedDateField()
    # booking.persons.person_index, as Person.match_key and Series.person_key.
    person_key = models.CharField(max_length=250)
    # The place typed (a town, a postcode) and its position: a commune's, not a home's.
    place_label = models.CharField(max_length=100)
    latitude = models.FloatField()
    longitude = models.FloatField()
    radius_km = models.PositiveSmallIntegerField()
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    dose_number = models.PositiveSmallIntegerField()
    # A dose 2 after a dose 1 given elsewhere: the day declared (like
    # booking.Series.dose1_elsewhere_on) and the days its dose 2 may be booked.
    dose1_on = models.DateField(null=True, blank=True)
    window_from = models.DateField(null=True, blank=True)
    window_to = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The matching's bounding box: one range on latitude per vaccine and dose, the
            # longitude tested inside the index; on PostgreSQL it also holds what the
            # matching reads (an index-only scan once vacuumed; SQLite ignores `include`).
            models.Index(
                fields=["vaccine", "dose_number", "latitude", "longitude"],
                condition=Q(status="active"),
                include=["radius_km", "id", "contact", "expires_at", "window_from", "window_to"],
                name="alert_box",
            ),
            # A course booked for the person ends their alert.
            models.Index(fields=["person_key"], condition=Q(status="active"), name="alert_person"),
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="alert_expiry"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "person_key"],
                condition=Q(status="active"),
                name="one_alert_per_contact_and_person",
            ),
            models.CheckConstraint(
                condition=Q(radius_km__gte=1, radius_km__lte=MAX_RADIUS_KM),
                name="alert_radius_1_to_50",
            ),
            models.CheckConstraint(
                condition=Q(dose_number=1, dose1_on__isnull=True, window_from__isnull=True)
                | Q(
                    dose_number=2,
                    dose1_on__isnull=False,
                    window_from__isnull=False,
                    window_to__isnull=False,
                ),
                name="alert_dose2_has_its_window",
            ),
        ]


class AlertContact(models.Model):
    """When a contact was last alerted: the row a conditional update claims before a
    message goes (`last_sent_at` older than 6 hours), so that two workers matching at
    once send one message."""

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_sent_at = models.DateTimeField(null=True, blank=True)


class AlertScan(models.Model):
    """How far the matching has read the availability read model's changes (one row)."""

    scanned_to = models.DateTimeField()
