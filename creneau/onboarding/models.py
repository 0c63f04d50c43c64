from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.core.fields import EncryptedTextField
from creneau.geography.models import Commune, Department
from creneau.sites.models import Site

from . import numbers


class Application(models.Model):
    """A practice, a pharmacy or a centre asking to join, until the regional authority of
    its department approves it (a draft site and its manager's invitation) or refuses it
    with a reason."""

    class Kind(models.TextChoices):
        GP_PRACTICE = Site.Kind.GP_PRACTICE.value, _("Cabinet médical")
        PHARMACY = Site.Kind.PHARMACY.value, _("Pharmacie")
        CENTRE = Site.Kind.CENTRE.value, _("Centre de vaccination")

    class NumberKind(models.TextChoices):
        FINESS = numbers.FINESS, _("FINESS (établissement)")
        RPPS = numbers.RPPS, _("RPPS (médecin)")
        SIRET = numbers.SIRET, _("SIRET (entreprise)")

    class Status(models.TextChoices):
        PENDING = "pending", _("À examiner")
        APPROVED = "approved", _("Acceptée")
        REFUSED = "refused", _("Refusée")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=250)
    postcode = models.CharField(max_length=5)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    number_kind = models.CharField(max_length=10, choices=NumberKind.choices)
    number = models.CharField(max_length=14)
    # The person applying and where the invitation goes: personal data, encrypted at
    # rest like booking.Contact's (core.fields).
    applicant_name = EncryptedTextField()
    email = EncryptedTextField()
    # "We vaccinate here, without appointments online yet": kept on the site if approved.
    without_slots = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["department", "status"])]
        constraints = [
            # A double submit, or a second applicant for the same number, while one waits.
            models.UniqueConstraint(
                fields=["number_kind", "number"],
                condition=Q(status="pending"),
                name="one_pending_application_per_number",
            ),
            models.CheckConstraint(
                condition=~Q(status="refused") | ~Q(reason=""),
                name="application_refusal_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(site__isnull=False),
                name="application_approval_has_site",
            ),
        ]


class StaffInvitation(models.Model):
    """An e-mailed link that lets a new account set its password: once, before it
    expires. The link's token is derived from the server's key and the row's id when the
    e-mail is sent (messages.py); the row keeps only its SHA-256 (`token_hash`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["token_hash"], condition=~Q(token_hash=""), name="invitation_token_unique"
            )
        ]


class SiteWithoutSlots(models.Model):
    """A site that says it vaccinates without appointments online yet (no dose received
    here): shown as such, never as bookable, while it has no free place."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="+")
    declared_at = models.DateTimeField(auto_now_add=True)
