from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine


class Session(models.Model):
    """A block of opening time at a site for one vaccine and one dose number."""

    class Status(models.TextChoices):
        OPEN = "open", _("Ouverte")
        CLOSED = "closed", _("Fermée")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="sessions")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="sessions")
    dose_number = models.PositiveSmallIntegerField(default=1)
    date = models.DateField()
    start_time = models.TimeField()
    end_time = models.TimeField()
    lines = models.PositiveSmallIntegerField()
    slot_minutes = models.PositiveSmallIntegerField(default=10)
    # Doses each place promises in the stock ledger, fixed when the session opens.
    doses_per_place = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "start_time", "id"]
        indexes = [models.Index(fields=["site", "date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="session_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(lines__gte=1, lines__lte=100), name="session_lines_1_to_100"
            ),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5, slot_minutes__lte=120),
                name="session_slot_minutes_5_to_120",
            ),
            models.CheckConstraint(
                condition=Q(dose_number__gte=1, dose_number__lte=3), name="session_dose_1_to_3"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.date} {self.start_time}-{self.end_time} {self.vaccine.code}"


class Slot(models.Model):
    """A time window of a session; site, vaccine, dose and local date are copied from it."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="slots")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="slots")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="slots")
    dose_number = models.PositiveSmallIntegerField()
    date = models.DateField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["site", "start"]),
            models.Index(fields=["site", "vaccine", "dose_number", "date"]),
        ]
        constraints = [
            # Invariant 1: a slot is never booked beyond its capacity.
            models.CheckConstraint(
                condition=Q(booked__gte=0, booked__lte=F("capacity")),
                name="slot_booked_within_capacity",
            ),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_ends_after_start"),
        ]

    @property
    def available(self) -> int:
        return self.capacity - self.booked


class DayAvailability(models.Model):
    """Read model for search: free places per site, vaccine, dose and local day.

    Kept current by every write that changes a slot's capacity or booked count, in
    the same transaction; search reads it and never scans slots.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="availability")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.CASCADE, related_name="+")
    dose_number = models.PositiveSmallIntegerField()
    date = models.DateField()
    free = models.PositiveIntegerField(default=0)
    first_free_start = models.DateTimeField(null=True)
    last_free_start = models.DateTimeField(null=True)
    # When free places last appeared here (`free` went up: a session opened or widened,
    # places given back by a cancellation or a hold), set by the same statement that
    # changed `free`: what the alerts read to find places that opened (issue 20).
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["site", "date"]),
            models.Index(
                fields=["opened_at"],
                condition=Q(opened_at__isnull=False),
                name="availability_opened",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "vaccine", "dose_number", "date"],
                name="day_availability_unique",
            ),
            models.CheckConstraint(
                condition=Q(free=0) | Q(first_free_start__isnull=False),
                name="day_availability_free_has_start",
            ),
        ]
