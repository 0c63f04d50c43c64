from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from creneau.sites.models import Site


class Vaccine(models.Model):
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    manufacturer = models.CharField(max_length=100)
    doses_in_series = models.PositiveSmallIntegerField(default=2)
    interval_min_days = models.PositiveSmallIntegerField(default=0)
    interval_recommended_days = models.PositiveSmallIntegerField(default=0)
    interval_max_days = models.PositiveSmallIntegerField(default=0)
    min_age = models.PositiveSmallIntegerField(default=18)
    max_age = models.PositiveSmallIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Standard codes, for health systems and other platforms (FHIR codings, interop): the
    # WHO's ATC class (J07BX03, COVID-19 vaccines) and the product's number in the EU's
    # register of medicinal products (EU/1/20/1528). Blank for a product without one.
    atc_code = models.CharField(max_length=7, blank=True)
    eu_number = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(doses_in_series__gte=1, doses_in_series__lte=3),
                name="vaccine_doses_in_series_1_to_3",
            ),
            models.CheckConstraint(
                condition=Q(doses_in_series=1)
                | Q(
                    interval_min_days__gt=0,
                    interval_recommended_days__gte=F("interval_min_days"),
                    interval_max_days__gte=F("interval_recommended_days"),
                ),
                name="vaccine_intervals_ordered",
            ),
            models.CheckConstraint(
                condition=Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="vaccine_age_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Allocation(models.Model):
    """A week's expected deliveries shared among the sites of an authority's scope in one
    form (`deliveries_allocate`): its deliveries point at it. `key` is the form's own
    id, so that the form sent twice (a double click) records one allocation."""

    key = models.CharField(max_length=40, unique=True)
    expected_on = models.DateField()
    # {vaccine id: doses} as the authority typed them; what each vaccine's total was
    # checked against.
    quotas = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class Delivery(models.Model):
    class Status(models.TextChoices):
        EXPECTED = "expected", _("Confirmée")
        RECEIVED = "received", _("Reçue")
        CANCELLED = "cancelled", _("Annulée")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="deliveries")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="deliveries")
    quantity = models.PositiveIntegerField()
    lot = models.CharField(max_length=40, blank=True)
    expected_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.EXPECTED)
    received_at = models.DateTimeField(null=True, blank=True)
    # The regional allocation that announced it, if any.
    allocation = models.ForeignKey(
        Allocation, on_delete=models.PROTECT, null=True, blank=True, related_name="deliveries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["expected_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="delivery_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(status="received") | Q(received_at__isnull=False),
                name="delivery_received_has_time",
            ),
        ]


class Stock(models.Model):
    """The dose ledger of one vaccine at one site.

    delivered: doses received or confirmed for delivery;
    committed: doses promised by open slot capacity (a first-dose place of a
               two-dose vaccine promises both doses);
    given:     doses administered.
    The constraint is invariant 2: nothing is promised or given that was not delivered.
    """

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="stocks")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="stocks")
    delivered = models.IntegerField(default=0)
    committed = models.IntegerField(default=0)
    given = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "vaccine"], name="stock_unique_site_vaccine"),
            models.CheckConstraint(
                condition=Q(delivered__gte=0, committed__gte=0, given__gte=0),
                name="stock_counts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(delivered__gte=F("committed") + F("given")),
                name="stock_never_over_promised",
            ),
        ]

    @property
    def uncommitted(self) -> int:
        return self.delivered - self.committed - self.given
