from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.geography.models import Department
from creneau.sites.models import Site


class StaffProfile(models.Model):
    """What a staff account may see and do: a role, and the sites or departments it covers.

    Site staff and managers cover their sites; a regional authority covers the sites of
    its departments; the national authority and call-centre agents cover every site.
    """

    class Role(models.TextChoices):
        SITE_STAFF = "site_staff", _("Personnel de site")
        SITE_MANAGER = "site_manager", _("Responsable de site")
        CALL_CENTRE = "call_centre", _("Agent du centre d'appels")
        REGIONAL_AUTHORITY = "regional_authority", _("Autorité régionale")
        NATIONAL_AUTHORITY = "national_authority", _("Autorité nationale")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    sites = models.ManyToManyField(Site, blank=True, related_name="staff")
    departments = models.ManyToManyField(Department, blank=True, related_name="staff")

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class LoginThrottle(models.Model):
    """Failed sign-ins of one account name, counted by conditional updates so that every
    app process sees the same count (the lockout holds with several processes)."""

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(failures__gte=0), name="login_throttle_failures_non_negative"
            )
        ]


class ApiToken(models.Model):
    """A key a national or regional authority gives a system of its own (the national
    vaccination registry) to read, as that account and within its scope, what only staff
    may read through the API (`/fhir/r4/Immunization`).

    Only the token's SHA-256 is kept: the token is shown once, when it is made, and a copy
    of the database opens nothing. (A plain hash is enough: the token is 256 random bits,
    not a password that a dictionary could guess.) `prefix`, its first characters, tells
    the owner's tokens apart on the page. Revoked or expired, it opens nothing; the row
    stays, for the audit log's events that name it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Written at most once a minute (services.api_token_use), not at every read.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="api_token_expires_after_creation",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="api_token_has_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
