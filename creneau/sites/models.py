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
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
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
