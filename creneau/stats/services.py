"""Writes of the summary tables (models.py): a range of local days recomputed from the
rows dated those days, set-based (`counting.py`: one INSERT … SELECT … GROUP BY a table),
and the running sums of the days after it kept right.

The worker refreshes today and yesterday (`stats_refresh_due`, every ten minutes): a
day's refresh reads only that day's rows, each source through an index (see counting.py).
Moves change an appointment's slot without a timestamp: a moved appointment counts on the
day of its new slot when that day is refreshed. An older day is final (its open-data files
are published, see selectors.day_published) and changes only when an operator rebuilds it
(`manage.py stats_rebuild`, the same statements over the whole range at once)."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from creneau.booking.models import Appointment
from creneau.core.db import keys_lock, unit_of_work
from creneau.geography.models import Department
from creneau.vaccines.models import Delivery

from . import counting
from .models import AppointmentDay, DayRefresh, SiteDay, VaccinationDay

# Today and yesterday: no-shows are marked, and doses recorded, after midnight too.
REFRESHED_DAYS = 2
VACCINATION_MEASURES = ("delivered", "given", "dose1", "complete")
CUMULATIVE = {f"cum_{measure}": measure for measure in VACCINATION_MEASURES}
# For the rebuild's transaction only (SET LOCAL), on PostgreSQL: a whole campaign's sorts
# and hashes stay in memory (the default 4 MB spills them to disk); and an index lookup is
# priced as what it is with the tables in memory or on SSD, not a spinning disk's seek
# (the default 4): otherwise a day's refresh would rather scan every appointment than
# look up its day's ten thousand by key.
PLANNER_SETTINGS = {"work_mem": "256MB", "random_page_cost": "1.1"}


@dataclass(frozen=True)
class DaysRefreshed:
    first: dt.date
    last: dt.date
    appointment_rows: int
    vaccination_rows: int


def _bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The instants from the earliest zone's start of `first` to the latest zone's end of
    `last`: every row of those local days is inside, whatever its department."""
    zones = set(Department.objects.order_by().values_list("timezone", flat=True).distinct())
    zones.add(settings.TIME_ZONE)
    end = last + dt.timedelta(days=1)
    return (
        min(dt.datetime.combine(first, dt.time.min, tzinfo=ZoneInfo(z)) for z in zones),
        max(dt.datetime.combine(end, dt.time.min, tzinfo=ZoneInfo(z)) for z in zones),
    )


def rebuild_params(*, first: dt.date, last: dt.date) -> dict[str, object]:
    """The parameters of counting.py's statements for the days `first` to `last`."""
    start, end = _bounds(first, last)
    ops = connection.ops
    return {
        "first": ops.adapt_datefield_value(first),
        "last": ops.adapt_datefield_value(last),
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "cancelled": Appointment.Status.CANCELLED.value,
        "noshow": Appointment.Status.NOSHOW.value,
        "received": Delivery.Status.RECEIVED.value,
    }


def _range_sums(first: dt.date, last: dt.date) -> dict[tuple[str, int], dict[str, int]]:
    """The daily vaccination figures of the range summed per department and vaccine."""
    return {
        (row.pop("department_id"), row.pop("vaccine_id")): row
        for row in VaccinationDay.objects.filter(day__range=(first, last))
        .order_by()
        .values("department_id", "vaccine_id")
        .annotate(**{measure: Sum(measure) for measure in VACCINATION_MEASURES})
    }


@unit_of_work
def stats_rebuild(
    *, first: dt.date, last: dt.date, now: dt.datetime | None = None
) -> DaysRefreshed:
    """Recompute every day from `first` to `last` in both summary tables and the sites'
    one, in one transaction, by the statements of counting.py; then move the running sums
    of the later days by what the range's figures changed.

    Rebuilds run one at a time (an advisory lock on PostgreSQL; SQLite's writers already
    do): two of them moving the same running sums would otherwise count a change twice."""
    keys_lock("stats.refresh")
    params = rebuild_params(first=first, last=last)
    counting.functions_register()
    before = _range_sums(first, last)
    for model in (AppointmentDay, SiteDay, VaccinationDay):
        model.objects.filter(day__range=(first, last)).delete()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name, value in PLANNER_SETTINGS.items():
                cursor.execute(f"SET LOCAL {name} = '{value}'")
        cursor.execute(counting.facts_sql(), params)
        if connection.vendor == "postgresql":
            # Its row count and spread, for the plans of the two statements that read it.
            cursor.execute("ANALYZE stats_facts")
        cursor.execute(counting.APPOINTMENT_DAYS)
        appointment_rows = cursor.rowcount
        cursor.execute(counting.SITE_DAYS)
        cursor.execute(counting.FACTS_DROP)
        cursor.execute(counting.vaccination_days_sql(), params)
        vaccination_rows = cursor.rowcount

    # Later days carry the range's old figures in their running sums: one UPDATE moves
    # those of every department and vaccine whose figures changed.
    if VaccinationDay.objects.filter(day__gt=last).exists():
        after = _range_sums(first, last)
        changes = []
        for key in before.keys() | after.keys():
            deltas = [
                after.get(key, {}).get(measure, 0) - before.get(key, {}).get(measure, 0)
                for measure in VACCINATION_MEASURES
            ]
            if any(deltas):
                changes.append((*key, *deltas))
        if changes:
            with connection.cursor() as cursor:
                cursor.execute(
                    counting.running_sums_move_sql(len(changes)),
                    [*(value for change in changes for value in change), params["last"]],
                )

    refreshed_at = now or timezone.now()
    DayRefresh.objects.bulk_create(
        [
            DayRefresh(day=first + dt.timedelta(days=n), refreshed_at=refreshed_at)
            for n in range((last - first).days + 1)
        ],
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=["refreshed_at"],
    )
    return DaysRefreshed(
        first=first,
        last=last,
        appointment_rows=appointment_rows,
        vaccination_rows=vaccination_rows,
    )


def stats_refresh(*, day: dt.date, now: dt.datetime | None = None) -> DaysRefreshed:
    """One day: the rebuild of a one-day range."""
    return stats_rebuild(first=day, last=day, now=now)


def stats_refresh_due(*, now: dt.datetime | None = None) -> DaysRefreshed:
    """What the worker runs every ten minutes: today and yesterday (the country's
    calendar, settings.TIME_ZONE; an overseas day ends within the next day's refreshes),
    in one transaction."""
    now = now or timezone.now()
    today = timezone.localtime(now, ZoneInfo(settings.TIME_ZONE)).date()
    return stats_rebuild(first=today - dt.timedelta(days=REFRESHED_DAYS - 1), last=today, now=now)
