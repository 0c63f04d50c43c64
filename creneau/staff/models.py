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
