"""Summary tables of the campaign's figures, one row per day and what it is counted by.

They are written only by `services.stats_rebuild` (a range of local days at once, from
the rows dated those days, by one INSERT … SELECT … GROUP BY a table: `counting.py`) and
read by the statistics pages and the open data: neither ever scans appointments or
doses. A department is the site's (where the dose was given or the
appointment is), a day its local day (`Department.timezone`)."""

from django.db import models

from creneau.geography.models import Department
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

# The keys of the two large tables (hundreds of thousands of rows a campaign) are neither
# checked nor indexed by the database one by one: their rows are derived, written only by
# the rebuild from rows whose keys were checked when they were written, and read by day
# (the unique constraints and the (site, day) index begin with what is read). Each check
# and index would be one more lookup and insertion for every row a rebuild writes.
DERIVED_KEY = {"on_delete": models.PROTECT, "related_name": "+", "db_constraint": False}


class AppointmentMeasures(models.Model):
    """What a day's appointments and doses count, per department (`AppointmentDay`) or
    per site (`SiteDay`)."""

    # Appointments made that day (whatever became of them since).
    booked = models.PositiveIntegerField(default=0)
    # Appointments in that day's slots, not cancelled: booked, arrived, fulfilled, no-show.
    scheduled = models.PositiveIntegerField(default=0)
    # Doses given that day (records withdrawn since are not counted).
    given = models.PositiveIntegerField(default=0)
    # That day's appointments marked as no-shows.
    noshows = models.PositiveIntegerField(default=0)
    # Appointments cancelled that day (whatever day they were for).
    cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class AppointmentDay(AppointmentMeasures):
    """Per day, department, vaccine, dose number and age band (`booking.ages`; "" for a
    course booked without one, or a dose whose person was erased)."""

    day = models.DateField()
    department = models.ForeignKey(Department, db_index=False, **DERIVED_KEY)
    vaccine = models.ForeignKey(Vaccine, db_index=False, **DERIVED_KEY)
    dose_number = models.PositiveSmallIntegerField()
    age_band = models.CharField(max_length=5, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "department", "vaccine", "dose_number", "age_band"],
                name="appointment_day_unique",
            ),
        ]


class VaccinationDay(models.Model):
    """Per day, department and vaccine: doses in and out, and people vaccinated so far.

    The `cum_` columns are running sums of the daily ones over every earlier row of the same
    department and vaccine (a day without a row has the running sums of the row before
    it); `stats_rebuild` keeps them so when it rewrites days that later rows follow."""

    day = models.DateField()
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    # Doses received that day (deliveries received, by their time of receipt).
    delivered = models.PositiveIntegerField(default=0)
    given = models.PositiveIntegerField(default=0)
    # People given their first dose here that day, and people whose course that day's
    # dose completed (the vaccine's last dose: a one-dose product counts in both).
    dose1 = models.PositiveIntegerField(default=0)
    complete = models.PositiveIntegerField(default=0)
    cum_delivered = models.PositiveIntegerField(default=0)
    cum_given = models.PositiveIntegerField(default=0)
    cum_dose1 = models.PositiveIntegerField(default=0)
    cum_complete = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["department", "vaccine", "day"])]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "department", "vaccine"], name="vaccination_day_unique"
            ),
        ]

    @property
    def in_stock(self) -> int:
        """Doses received and not given by the end of the day."""
        return self.cum_delivered - self.cum_given


class SiteDay(AppointmentMeasures):
    """Per day, site and vaccine, for the authorities' view of their sites (doses given,
    no-show rates, days of cover): `AppointmentDay`'s measures without the age bands,
    counted by the same refresh from the same rows."""

    day = models.DateField()
    site = models.ForeignKey(Site, db_index=False, **DERIVED_KEY)
    vaccine = models.ForeignKey(Vaccine, db_index=False, **DERIVED_KEY)

    class Meta:
        indexes = [models.Index(fields=["site", "day"])]
        constraints = [
            models.UniqueConstraint(fields=["day", "site", "vaccine"], name="site_day_unique"),
        ]


class DayRefresh(models.Model):
    """When each day's figures were last computed: a day is published (its open-data files
    final) once its last refresh came after it ended everywhere."""

    day = models.DateField(primary_key=True)
    refreshed_at = models.DateTimeField()
