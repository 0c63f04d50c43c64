"""Other booking platforms' feeds (SMART Scheduling Links) and what we keep of them.

Search reads `ExternalAvailability` the way it reads scheduling's DayAvailability: a small
table written by the import, never the feed itself at request time.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine


class ExternalPlatform(models.Model):
    """A booking platform whose sites and free slots the national search shows, with a
    link to book there. Registered by a national or regional authority."""

    name = models.CharField(max_length=100, unique=True)
    manifest_url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    # Its locations that match no site of ours are shown only once an authority has looked
    # at a sample of them and confirmed (before, they wait, `ExternalLocation.site` empty).
    external_sites_confirmed_at = models.DateTimeField(null=True, blank=True)
    # The manifest's validators from the last good read, for the next conditional request.
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # The last good read: what search shows is from then.
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    errors_in_row = models.PositiveIntegerField(default=0)
    locations = models.PositiveIntegerField(default=0)
    slots = models.PositiveIntegerField(default=0)
    # Slots of the last good read that were left out (past, too far ahead, not free).
    slots_ignored = models.PositiveIntegerField(default=0)
    # Locations of the last good read left out: matched to none of our sites and without a
    # usable position, they cannot be placed on a search by distance.
    locations_ignored = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExternalLocation(models.Model):
    """A Location of a platform's feed: matched to one of our sites, or an external site."""

    platform = models.ForeignKey(
        ExternalPlatform, on_delete=models.CASCADE, related_name="external_locations"
    )
    external_id = models.CharField(max_length=64)
    # Matched by the official id, FINESS, our own id, or position and name.
    site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Site.Kind.choices, default=Site.Kind.CENTRE)
    address = models.CharField(max_length=250, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    grid_cell = models.IntegerField(db_index=True)
    official_id = models.CharField(max_length=50, blank=True)
    finess = models.CharField(max_length=9, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    url = models.URLField(max_length=500, blank=True)
    # In the last good read; a location the feed no longer lists keeps its row (it may
    # come back) but has no availability.
    listed = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="external_location_unique"
            ),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="external_location_on_earth",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ExternalAvailability(models.Model):
    """Free places of a platform's location per product, dose and local day: the read model
    the national search joins, replaced whole by each import of the platform."""

    location = models.ForeignKey(
        ExternalLocation, on_delete=models.CASCADE, related_name="availability"
    )
    # Null: a product the feed names in a way we do not know (shown without a filter only).
    vaccine = models.ForeignKey(
        Vaccine, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    dose_number = models.PositiveSmallIntegerField(default=1)
    date = models.DateField()
    free = models.PositiveIntegerField()
    first_free_start = models.DateTimeField()
    # The first free slot's link to book it on the platform, and its phone.
    booking_url = models.URLField(max_length=500, blank=True)
    booking_phone = models.CharField(max_length=30, blank=True)

    class Meta:
        verbose_name_plural = _("external availability")
        indexes = [models.Index(fields=["location", "date"])]
        constraints = [
            models.CheckConstraint(condition=Q(free__gt=0), name="external_availability_free"),
        ]
