"""The figures of the summary tables counted again from the rows, the plain way: every
appointment, dose and delivery read in Python, each timestamp's day taken in its
department's time zone. What `stats_refresh` computes must equal this."""

import datetime as dt
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

from creneau.booking.models import Appointment
from creneau.care.models import Administration
from creneau.stats.models import AppointmentDay, SiteDay, VaccinationDay
from creneau.vaccines.models import Delivery, Vaccine

MEASURES = ("delivered", "given", "dose1", "complete")
APPOINTMENT_MEASURES = ("booked", "scheduled", "given", "noshows", "cancelled")


def _local_day(moment: dt.datetime, zone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(zone)).date()


def _recounted(*, by_site: bool) -> dict[tuple, Counter]:
    """Per (day, department, vaccine, dose, age band), or per (day, site, vaccine)."""
    figures: dict[tuple, Counter] = defaultdict(Counter)

    def key(site, vaccine_id, dose, band) -> tuple:
        if by_site:
            return (site.pk, vaccine_id)
        return (site.department.code, vaccine_id, dose, band)

    appointments = Appointment.objects.select_related("slot__site__department", "series").order_by()
    for a in appointments:
        site = a.slot.site
        k = key(site, a.slot.vaccine_id, a.dose_number, a.series.age_band)
        zone = site.department.timezone
        figures[(_local_day(a.created_at, zone), *k)]["booked"] += 1
        if a.status == Appointment.Status.CANCELLED:
            figures[(_local_day(a.updated_at, zone), *k)]["cancelled"] += 1
        else:
            figures[(a.slot.date, *k)]["scheduled"] += 1
        if a.status == Appointment.Status.NOSHOW:
            figures[(a.slot.date, *k)]["noshows"] += 1
    doses = Administration.objects.filter(withdrawn_at__isnull=True).select_related(
        "appointment__slot__site__department", "appointment__series", "site__department"
    )
    for d in doses:
        if d.appointment is not None:
            site = d.appointment.slot.site
            dose, band = d.appointment.dose_number, d.appointment.series.age_band
        else:
            site, dose, band = d.site, d.dose_number, ""
        day = _local_day(d.given_at, site.department.timezone)
        figures[(day, *key(site, d.vaccine_id, dose, band))]["given"] += 1
    return figures


def appointments_recounted(days: set[dt.date] | None = None) -> dict[tuple, Counter]:
    """Per (day, department, vaccine, dose, age band), of the days given (all if None)."""
    return {
        key: counts
        for key, counts in _recounted(by_site=False).items()
        if days is None or key[0] in days
    }


def sites_recounted(days: set[dt.date]) -> dict[tuple, Counter]:
    """Per (day, site, vaccine), of the days given."""
    return {key: counts for key, counts in _recounted(by_site=True).items() if key[0] in days}


def sites_tabled(days: set[dt.date]) -> dict[tuple, Counter]:
    return {
        (row.day, row.site_id, row.vaccine_id): Counter(
            {m: getattr(row, m) for m in APPOINTMENT_MEASURES if getattr(row, m)}
        )
        for row in SiteDay.objects.filter(day__in=days)
    }


def appointments_tabled(days: set[dt.date]) -> dict[tuple, Counter]:
    measures = APPOINTMENT_MEASURES
    return {
        (row.day, row.department_id, row.vaccine_id, row.dose_number, row.age_band): Counter(
            {m: getattr(row, m) for m in measures if getattr(row, m)}
        )
        for row in AppointmentDay.objects.filter(day__in=days)
    }


def vaccinations_recounted(days: set[dt.date]) -> dict[tuple, dict[str, int]]:
    """Daily figures per (day, department, vaccine) and their running sums over every day
    up to it, for the days given that have a row (a day with nothing has none)."""
    last_dose = dict(Vaccine.objects.values_list("pk", "doses_in_series"))
    daily: dict[tuple, Counter] = defaultdict(Counter)
    for (day, dep, vaccine, dose, _band), counts in appointments_recounted().items():
        given = counts["given"]
        if given:
            daily[day, dep, vaccine]["given"] += given
            daily[day, dep, vaccine]["dose1"] += given if dose == 1 else 0
            daily[day, dep, vaccine]["complete"] += given if dose == last_dose[vaccine] else 0
    for d in Delivery.objects.filter(status="received").select_related("site__department"):
        department = d.site.department
        day = _local_day(d.received_at, department.timezone)
        daily[day, department.code, d.vaccine_id]["delivered"] += d.quantity
    figures = {}
    running: dict[tuple, Counter] = defaultdict(Counter)
    for (day, dep, vaccine), counts in sorted(daily.items()):
        running[dep, vaccine].update(counts)
        if day in days:
            figures[day, dep, vaccine] = {
                **{m: counts[m] for m in MEASURES},
                **{f"cum_{m}": running[dep, vaccine][m] for m in MEASURES},
            }
    return figures


def vaccinations_tabled(days: set[dt.date]) -> dict[tuple, dict[str, int]]:
    return {
        (row.day, row.department_id, row.vaccine_id): {
            **{m: getattr(row, m) for m in MEASURES},
            **{f"cum_{m}": getattr(row, f"cum_{m}") for m in MEASURES},
        }
        for row in VaccinationDay.objects.filter(day__in=days)
    }
