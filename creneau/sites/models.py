from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.geography.models import Commune, Department


class Site(models.Model):
    class Kind(models.TextChoices):
        CENTRE = "centre", _("Centre de vaccination")
        GP_PRACTICE = "gp_practice", _("Cabinet médical")
        PHARMACY = "pharmacy", _("Pharmacie")
        HOSPITAL = "hospital", _("Établissement de santé")
        MOBILE = "mobile", _("Équipe mobile")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        PUBLISHED = "published", _("Publié")
        CLOSED = "closed", _("Fermé")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CENTRE)

    class StatusSetBy(models.TextChoices):
        FILE = "file", _("Le fichier officiel")
        STAFF = "staff", _("Une personne")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Who set `status` last: the official file's import changes only a status it set
    # itself, never one a member of staff (or a department's publication) set.
    status_set_by = models.CharField(
        max_length=5, choices=StatusSetBy.choices, default=StatusSetBy.STAFF
    )
    # A draft becomes public at this instant without anyone flipping a switch.
    publish_at = models.DateTimeField(null=True, blank=True)
    address = models.CharField(max_length=250, blank=True)
    postcode = models.CharField(max_length=5, blank=True)
    commune = models.ForeignKey(
        Commune, on_delete=models.PROTECT, null=True, blank=True, related_name="sites"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="sites")
    latitude = models.FloatField()
    longitude = models.FloatField()
    # creneau.core.geo.grid_cell of the position: what nearby searches look up.
    grid_cell = models.IntegerField(db_index=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    accessibility = models.CharField(max_length=250, blank=True)
    opening_hours = models.JSONField(default=dict, blank=True)
    # Category codes (eligibility vocabulary); empty means open to everyone eligible.
    restricted_to = models.JSONField(default=list, blank=True)
    booking_url = models.URLField(max_length=500, blank=True)
    # Site staff (nurses, the desk) sign in with a second factor too; managers always do.
    staff_second_factor = models.BooleanField(default=False)
    source = models.CharField(max_length=30, blank=True)
    external_id = models.CharField(max_length=50, blank=True)
    # The establishment's number in FINESS, the register of health and social care
    # establishments, when the official file gives it (see importer.finess_parse).
    finess = models.CharField(max_length=9, blank=True)
    # The commune's INSEE code as the official file gives it, also when the commune is not
    # in our geography (a merged commune, a typo): it says which department the site is in.
    insee_code = models.CharField(max_length=5, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="site_position_on_earth",
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="site_external_id_unique_per_source",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DepartmentPublication(models.Model):
    """Every draft site of a department published at an hour (the 2021 "publication of
    sites tomorrow at 8 a.m."), by the worker (`sites.jobs`). A draft with its own
    `publish_at` keeps it. Cancelled before it happens, it does nothing."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Programmée")
        CANCELLED = "cancelled", _("Annulée")
        DONE = "done", _("Faite")

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    publish_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # Filled by the worker: when it published, and how many drafts went public.
    done_at = models.DateTimeField(null=True, blank=True)
    published = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["publish_at", "id"]
        constraints = [
            # One hour at a time per department: scheduling again moves it.
            models.UniqueConstraint(
                fields=["department"],
                condition=Q(status="scheduled"),
                name="one_scheduled_publication_per_department",
            ),
        ]
        indexes = [
            models.Index(
                fields=["publish_at"],
                condition=Q(status="scheduled"),
                name="publication_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.publish_at:%Y-%m-%d %H:%M}"
