from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.booking.models import Appointment
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine


class Administration(models.Model):
    """The dose actually given: which product and lot, when, by whom.

    A record is never erased: corrected, it keeps its corrections beside it; recorded by
    mistake, it is withdrawn (`withdrawn_at`) and stays, and the appointment may then get
    the dose really given, a new record.

    When the person's booking identity is erased (the retention purge, or the person's own
    request: `privacy`), the record stays for the medical record, detached: no appointment
    any more, but the site, the dose number and `subject`, a pseudonymous reference (a keyed
    hash of the person's match key, `services.subject_reference`) that finds their doses
    again when they identify themselves, without their name being kept."""

    class FromStatus(models.TextChoices):
        BOOKED = Appointment.Status.BOOKED.value, Appointment.Status.BOOKED.label
        ARRIVED = Appointment.Status.ARRIVED.value, Appointment.Status.ARRIVED.label

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, null=True, related_name="administrations"
    )
    # Set when the record is detached from the booking identity (see above).
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, related_name="+")
    dose_number = models.PositiveSmallIntegerField(null=True)
    subject = models.CharField(max_length=64, blank=True, db_index=True)
    detached_at = models.DateTimeField(null=True, blank=True)
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    lot = models.CharField(max_length=40)
    # A lot the site has no delivery of, taken because the desk confirmed it was lent.
    lot_lent = models.BooleanField(default=False)
    given_at = models.DateTimeField()
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    recorded_at = models.DateTimeField(auto_now_add=True)
    # The appointment's status when the dose was recorded: where a withdrawal takes it back.
    from_status = models.CharField(max_length=10, choices=FromStatus.choices)
    # Set when the record is withdrawn (recorded by mistake); the correction row says who
    # and why. Here so that the database keeps one standing record per appointment.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(lot=""), name="administration_has_lot"),
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(withdrawn_at__isnull=True),
                name="one_administration_per_appointment",
            ),
            # Detached from its appointment, a record still says where, which dose, whose.
            models.CheckConstraint(
                condition=Q(appointment__isnull=False)
                | Q(site__isnull=False, dose_number__isnull=False, subject__gt=""),
                name="administration_detached_keeps_subject",
            ),
        ]


class AdministrationCorrection(models.Model):
    """A change to a dose's record after it was made: what it was, what it became, who
    changed it, when and why. The record shows what holds now; these rows, how it came to."""

    class Kind(models.TextChoices):
        LOT = "lot", _("Lot corrigé")
        TIME = "time", _("Heure corrigée")
        WITHDRAWN = "withdrawn", _("Enregistrée par erreur")

    administration = models.ForeignKey(
        Administration, on_delete=models.PROTECT, related_name="corrections"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    lot_before = models.CharField(max_length=40, blank=True)
    lot_after = models.CharField(max_length=40, blank=True)
    given_at_before = models.DateTimeField(null=True, blank=True)
    given_at_after = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    corrected_at = models.DateTimeField()

    class Meta:
        ordering = ["corrected_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="administration_correction_has_reason"
            ),
            # A correction says what it was and what it became.
            models.CheckConstraint(
                condition=Q(kind="lot", lot_before__gt="", lot_after__gt="")
                | Q(kind="time", given_at_before__isnull=False, given_at_after__isnull=False)
                | Q(kind="withdrawn"),
                name="administration_correction_says_what",
            ),
        ]
