"""Writes of the summary tables (models.py): one day's figures recomputed from the rows
dated that day, and the running sums of the days after it kept right.

What a day's refresh reads, each through an index (migration stats/0002):

| Figure | Rows | Dated by |
|---|---|---|
| booked | appointments | `created_at` |
| scheduled, no-shows | appointments | their slot's local `date` |
| cancelled | appointments cancelled | `updated_at` (the cancellation's; not written again) |
| given, first doses, complete courses | doses given, not withdrawn | `given_at` |
| delivered | deliveries received | `received_at` |

A timestamp's day is the local day of the site's department (Réunion's midnight is not
Paris's). Moves change an appointment's slot without a timestamp: a moved appointment
counts on the day of its new slot when that day is refreshed. The worker refreshes today
and yesterday (`stats_refresh_due`, every ten minutes); an older day is final (its
open-data files are published, see selectors.day_published) and changes only when an
operator rebuilds it (`manage.py stats_rebuild`)."""

import datetime as dt
import functools
import operator
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from creneau.booking.models import Appointment
from creneau.care.models import Administration
from creneau.core.db import keys_lock, unit_of_work
from creneau.geography.models import Department
from creneau.vaccines.models import Delivery, Vaccine

from .models import AppointmentDay, DayRefresh, VaccinationDay

# Today and yesterday: no-shows are marked, and doses recorded, after midnight too.
REFRESHED_DAYS = 2
APPOINTMENT_MEASURES = ("booked", "scheduled", "given", "noshows", "cancelled")
VACCINATION_MEASURES = ("delivered", "given", "dose1", "complete")
CUMULATIVE = {f"cum_{measure}": measure for measure in VACCINATION_MEASURES}

AppointmentKey = tuple[str, int, int, str]  # department, vaccine, dose number, age band
VaccinationKey = tuple[str, int]  # department, vaccine


@dataclass(frozen=True)
class DayRefreshed:
    day: dt.date
    appointment_rows: int
    vaccination_rows: int


def _on_day(day: dt.date, *, field: str, zone_field: str) -> Q:
    """Rows whose `field` (a timestamp) falls on `day` in the local time named by
    `zone_field`: one range per time zone in use, each served by the timestamp's index."""
    zones = Department.objects.order_by().values_list("timezone", flat=True).distinct()
    windows = {
        zone: (
            dt.datetime.combine(day, dt.time.min, tzinfo=ZoneInfo(zone)),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=ZoneInfo(zone)),
        )
        for zone in zones
    }
    if not windows:
        return Q(pk__in=[])
    ranges = [
        Q(**{zone_field: zone, f"{field}__gte": start, f"{field}__lt": end})
        for zone, (start, end) in windows.items()
    ]
    # One range over every zone's day first: the index scan the database starts from
    # (the time zone is a joined column, which an OR of ranges alone does not narrow by).
    return Q(
        **{
            f"{field}__gte": min(start for start, _ in windows.values()),
            f"{field}__lt": max(end for _, end in windows.values()),
        }
    ) & functools.reduce(operator.or_, ranges)


def _appointments_counted(queryset) -> dict[AppointmentKey, int]:
    rows = (
        queryset.order_by()
        .values_list(
            "slot__site__department_id", "slot__vaccine_id", "dose_number", "series__age_band"
        )
        .annotate(n=Count("pk"))
    )
    return {(dep, vaccine, dose, band): n for dep, vaccine, dose, band, n in rows}


def _appointment_figures(day: dt.date) -> dict[AppointmentKey, dict[str, int]]:
    zone = "slot__site__department__timezone"
    cancelled = Appointment.Status.CANCELLED
    counted = {
        "booked": Appointment.objects.filter(_on_day(day, field="created_at", zone_field=zone)),
        "scheduled": Appointment.objects.filter(slot__date=day).exclude(status=cancelled),
        "noshows": Appointment.objects.filter(slot__date=day, status=Appointment.Status.NOSHOW),
        "cancelled": Appointment.objects.filter(status=cancelled).filter(
            _on_day(day, field="updated_at", zone_field=zone)
        ),
    }
    figures: dict[AppointmentKey, dict[str, int]] = defaultdict(dict)
    for measure, queryset in counted.items():
        for key, n in _appointments_counted(queryset).items():
            figures[key][measure] = n
    for key, n in _doses_given(day).items():
        figures[key]["given"] = n
    return figures


def _doses_given(day: dt.date) -> dict[AppointmentKey, int]:
    """Doses given that day and not withdrawn; a dose detached from its appointment (its
    person erased) keeps its site and dose number, and has no age band any more."""
    rows = (
        Administration.objects.filter(withdrawn_at__isnull=True)
        .annotate(
            department=Coalesce("appointment__slot__site__department_id", "site__department_id"),
            zone=Coalesce(
                "appointment__slot__site__department__timezone", "site__department__timezone"
            ),
            dose=Coalesce("appointment__dose_number", "dose_number"),
            band=Coalesce("appointment__series__age_band", Value("")),
        )
        .filter(_on_day(day, field="given_at", zone_field="zone"))
        .order_by()
        .values_list("department", "vaccine_id", "dose", "band")
        .annotate(n=Count("pk"))
    )
    return {(dep, vaccine, dose, band): n for dep, vaccine, dose, band, n in rows}


def _vaccination_figures(
    day: dt.date, appointments: dict[AppointmentKey, dict[str, int]]
) -> dict[VaccinationKey, dict[str, int]]:
    last_dose = dict(Vaccine.objects.values_list("pk", "doses_in_series"))
    figures: dict[VaccinationKey, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(VACCINATION_MEASURES, 0)
    )
    for (dep, vaccine, dose, _band), measures in appointments.items():
        given = measures.get("given", 0)
        if not given:
            continue
        row = figures[dep, vaccine]
        row["given"] += given
        row["dose1"] += given if dose == 1 else 0
        row["complete"] += given if dose == last_dose[vaccine] else 0
    received = (
        Delivery.objects.filter(status=Delivery.Status.RECEIVED)
        .filter(_on_day(day, field="received_at", zone_field="site__department__timezone"))
        .order_by()
        .values_list("site__department_id", "vaccine_id")
        .annotate(n=Sum("quantity"))
    )
    for dep, vaccine, n in received:
        figures[dep, vaccine]["delivered"] += n
    return figures


@unit_of_work
def stats_refresh(*, day: dt.date, now: dt.datetime | None = None) -> DayRefreshed:
    """Recompute `day`'s rows of both summary tables from the rows dated that day, and
    move the running sums of the later days by what the day's figures changed.

    Refreshes run one at a time (an advisory lock on PostgreSQL; SQLite's writers already
    do): two refreshes moving the same running sums would otherwise count a change twice."""
    keys_lock("stats.refresh")
    appointments = _appointment_figures(day)
    AppointmentDay.objects.filter(day=day).delete()
    AppointmentDay.objects.bulk_create(
        (
            AppointmentDay(
                day=day,
                department_id=dep,
                vaccine_id=vaccine,
                dose_number=dose,
                age_band=band,
                **measures,
            )
            for (dep, vaccine, dose, band), measures in appointments.items()
        ),
        batch_size=500,
    )

    daily = _vaccination_figures(day, appointments)
    before = {
        (row["department_id"], row["vaccine_id"]): row
        for row in VaccinationDay.objects.filter(day__lt=day)
        .order_by()
        .values("department_id", "vaccine_id")
        .annotate(**{name: Sum(measure) for name, measure in CUMULATIVE.items()})
    }
    previous = {
        (row.department_id, row.vaccine_id): row for row in VaccinationDay.objects.filter(day=day)
    }
    VaccinationDay.objects.filter(day=day).delete()
    VaccinationDay.objects.bulk_create(
        (
            VaccinationDay(
                day=day,
                department_id=dep,
                vaccine_id=vaccine,
                **measures,
                **{
                    name: (before.get((dep, vaccine), {}).get(name) or 0) + measures[measure]
                    for name, measure in CUMULATIVE.items()
                },
            )
            for (dep, vaccine), measures in daily.items()
        ),
        batch_size=500,
    )
    if VaccinationDay.objects.filter(day__gt=day).exists():
        for key in previous.keys() | daily.keys():
            old = previous.get(key)
            deltas = {
                name: daily.get(key, {}).get(measure, 0) - (getattr(old, measure) if old else 0)
                for name, measure in CUMULATIVE.items()
            }
            if any(deltas.values()):
                VaccinationDay.objects.filter(
                    department_id=key[0], vaccine_id=key[1], day__gt=day
                ).update(**{name: F(name) + delta for name, delta in deltas.items()})
    DayRefresh.objects.update_or_create(day=day, defaults={"refreshed_at": now or timezone.now()})
    return DayRefreshed(day=day, appointment_rows=len(appointments), vaccination_rows=len(daily))


def stats_rebuild(*, first: dt.date, last: dt.date) -> list[DayRefreshed]:
    """Every day from `first` to `last`, in order, each in its own transaction."""
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [stats_refresh(day=day) for day in days]


def stats_refresh_due(*, now: dt.datetime | None = None) -> list[DayRefreshed]:
    """What the worker runs every ten minutes: today and yesterday (the country's
    calendar, settings.TIME_ZONE; an overseas day ends within the next day's refreshes)."""
    now = now or timezone.now()
    today = timezone.localtime(now, ZoneInfo(settings.TIME_ZONE)).date()
    return [
        stats_refresh(day=today - dt.timedelta(days=n), now=now)
        for n in reversed(range(REFRESHED_DAYS))
    ]
