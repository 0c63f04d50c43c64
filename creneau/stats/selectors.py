"""Reads of the summary tables, for the statistics page and the open data: never a scan
of appointments or doses.

Counts that could single a person out are suppressed as in the French public datasets:
a published count from 1 to 10 becomes None (an empty cell), and so does a share computed
from one. The running sums of a day without a row are those of the row before it."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max, Q, Sum
from django.utils import timezone

from creneau.geography.models import Department
from creneau.sites.models import Site
from creneau.vaccines.models import Delivery, Stock, Vaccine

from .models import AppointmentDay, DayRefresh, SiteDay, VaccinationDay
from .services import REFRESHED_DAYS

SUPPRESSED_BELOW = 11
# The open data's name for all products together.
ALL_VACCINES = "tous"


def count_published(n: int) -> int | None:
    """The count, or None when it is small enough to point at someone (1 to 10)."""
    return None if 0 < n < SUPPRESSED_BELOW else n


def share_published(n: int, population: int, *, decimals: int | None = 1) -> float | None:
    """n as a percentage of the population (rounded to `decimals`, or not with None);
    None when n is suppressed or the population unknown."""
    if count_published(n) is None or not population:
        return None
    share = 100 * n / population
    return share if decimals is None else round(share, decimals)


def last_published_day(*, now: dt.datetime | None = None) -> dt.date:
    """The last day whose figures are final: the worker no longer refreshes it
    (services.REFRESHED_DAYS), so its files never change again."""
    today = timezone.localtime(now or timezone.now(), ZoneInfo(settings.TIME_ZONE)).date()
    return today - dt.timedelta(days=REFRESHED_DAYS)


def first_day() -> dt.date | None:
    """The first day with figures, None before any."""
    return DayRefresh.objects.order_by("day").values_list("day", flat=True).first()


@dataclass(frozen=True)
class VaccinationRow:
    dep: str
    jour: dt.date
    vaccin: str
    n_dose1: int | None
    n_complet: int | None
    n_cum_dose1: int | None
    n_cum_complet: int | None
    couv_dose1: float | None
    couv_complet: float | None


def vaccinations_by_department(*, first: dt.date, last: dt.date) -> list[VaccinationRow]:
    """One row per department, product (and all products, "tous") and day from `first` to
    `last`, from the department's first dose or delivery on: the day's first doses and
    completed courses, their running sums, and the share of the department's population."""
    codes = dict(Vaccine.objects.values_list("pk", "code"))
    populations = dict(Department.objects.values_list("code", "population"))
    daily: dict[tuple[str, str], dict[dt.date, list[int]]] = defaultdict(dict)
    rows = VaccinationDay.objects.filter(day__lte=last).values_list(
        "department_id", "vaccine_id", "day", "dose1", "complete", "cum_dose1", "cum_complete"
    )
    for dep, vaccine, day, dose1, complete, cum_dose1, cum_complete in rows:
        for key in ((dep, codes[vaccine]), (dep, ALL_VACCINES)):
            figures = daily[key].setdefault(day, [0, 0, 0, 0])
            for i, n in enumerate((dose1, complete, cum_dose1, cum_complete)):
                figures[i] += n
    result = []
    for (dep, vaccine), days in sorted(daily.items()):
        start = max(first, min(days))
        # The running sums carried in from before `first`.
        carried = [0, 0]
        for day in sorted(d for d in days if d < start):
            carried = days[day][2:]
        for n in range((last - start).days + 1):
            day = start + dt.timedelta(days=n)
            dose1, complete, *cum = days.get(day, [0, 0, *carried])
            carried = cum
            population = populations.get(dep, 0)
            result.append(
                VaccinationRow(
                    dep=dep,
                    jour=day,
                    vaccin=vaccine,
                    n_dose1=count_published(dose1),
                    n_complet=count_published(complete),
                    n_cum_dose1=count_published(cum[0]),
                    n_cum_complet=count_published(cum[1]),
                    couv_dose1=share_published(cum[0], population),
                    couv_complet=share_published(cum[1], population),
                )
            )
    return result


@dataclass(frozen=True)
class AppointmentRow:
    dep: str
    jour: dt.date
    vaccin: str
    rang_vaccinal: int
    n_rdv_pris: int | None
    n_rdv_prevus: int | None
    n_doses: int | None
    n_absents: int | None
    n_annulations: int | None


def appointments_by_department(*, first: dt.date, last: dt.date) -> list[AppointmentRow]:
    """Per department, day, product and dose number (age bands together): appointments
    made, appointments of the day, doses given, no-shows, cancellations."""
    codes = dict(Vaccine.objects.values_list("pk", "code"))
    rows = (
        AppointmentDay.objects.filter(day__gte=first, day__lte=last)
        .values_list("department_id", "day", "vaccine_id", "dose_number")
        .annotate(Sum("booked"), Sum("scheduled"), Sum("given"), Sum("noshows"), Sum("cancelled"))
        .order_by("department_id", "day", "vaccine_id", "dose_number")
    )
    return [
        AppointmentRow(
            dep=dep,
            jour=day,
            vaccin=codes[vaccine],
            rang_vaccinal=dose,
            n_rdv_pris=count_published(booked),
            n_rdv_prevus=count_published(scheduled),
            n_doses=count_published(given),
            n_absents=count_published(noshows),
            n_annulations=count_published(cancelled),
        )
        for dep, day, vaccine, dose, booked, scheduled, given, noshows, cancelled in rows
    ]


@dataclass(frozen=True)
class NationalDay:
    day: dt.date
    dose1: int
    complete: int
    cum_dose1: int
    cum_complete: int
    coverage_dose1: float  # % of the population, not rounded (the page rounds)
    coverage_complete: float


def national_days(*, last: dt.date, departments: list[str] | None = None) -> list[NationalDay]:
    """The whole country (or the `departments` given: an authority's scope) day by day,
    from the first day with figures to `last`."""
    scope = Department.objects.all()
    rows = VaccinationDay.objects.filter(day__lte=last)
    if departments is not None:
        scope = scope.filter(code__in=departments)
        rows = rows.filter(department_id__in=departments)
    population = scope.aggregate(n=Sum("population"))["n"] or 0
    daily = {
        day: (dose1, complete)
        for day, dose1, complete in rows.values_list("day")
        .annotate(Sum("dose1"), Sum("complete"))
        .order_by("day")
    }
    if not daily:
        return []
    start = min(daily)
    result, cum_dose1, cum_complete = [], 0, 0
    for n in range((last - start).days + 1):
        day = start + dt.timedelta(days=n)
        dose1, complete = daily.get(day, (0, 0))
        cum_dose1, cum_complete = cum_dose1 + dose1, cum_complete + complete
        result.append(
            NationalDay(
                day=day,
                dose1=dose1,
                complete=complete,
                cum_dose1=cum_dose1,
                cum_complete=cum_complete,
                coverage_dose1=100 * cum_dose1 / population if population else 0.0,
                coverage_complete=100 * cum_complete / population if population else 0.0,
            )
        )
    return result


@dataclass(frozen=True)
class DepartmentFigures:
    code: str
    name: str
    population: int
    appointments: int | None  # appointments made up to the day
    cum_dose1: int | None
    cum_complete: int | None
    coverage_dose1: float | None
    coverage_complete: float | None


def department_figures(
    *, last: dt.date, departments: list[str] | None = None
) -> list[DepartmentFigures]:
    """Each department (of `departments` if given) up to `last`: appointments made, people
    with a first dose and with a complete course, and their shares of its population
    (small counts suppressed)."""
    scope = Department.objects.order_by("code")
    if departments is not None:
        scope = scope.filter(code__in=departments)
    booked = dict(
        AppointmentDay.objects.filter(day__lte=last)
        .values_list("department_id")
        .annotate(Sum("booked"))
        .order_by()
    )
    vaccinated = {
        dep: (dose1, complete)
        for dep, dose1, complete in VaccinationDay.objects.filter(day__lte=last)
        .values_list("department_id")
        .annotate(Sum("dose1"), Sum("complete"))
        .order_by()
    }
    result = []
    for department in scope:
        dose1, complete = vaccinated.get(department.code, (0, 0))
        result.append(
            DepartmentFigures(
                code=department.code,
                name=department.name,
                population=department.population,
                appointments=count_published(booked.get(department.code, 0)),
                cum_dose1=count_published(dose1),
                cum_complete=count_published(complete),
                coverage_dose1=share_published(dose1, department.population, decimals=None),
                coverage_complete=share_published(complete, department.population, decimals=None),
            )
        )
    return result


def figures_version(*, last: dt.date) -> str:
    """What the figures to `last` depend on: when its days were last computed. A refresh
    or a rebuild changes it, so that what is kept of them (page figures, files) is
    computed again."""
    computed = DayRefresh.objects.filter(day__lte=last).aggregate(at=Max("refreshed_at"))["at"]
    return f"{last}:{computed and computed.isoformat()}"


# The authorities' view of their sites: doses a day over the last week (what the stock is
# spent at), no-shows over the last four weeks (enough appointments for a rate).
PACE_DAYS = 7
NOSHOW_DAYS = 28


@dataclass(frozen=True)
class SiteFigures:
    site_id: int
    name: str
    department: str
    given_week: int  # doses given over the last PACE_DAYS days
    scheduled: int  # appointments of the last NOSHOW_DAYS days, not cancelled
    noshows: int  # of which the person did not come
    in_stock: int  # doses received and not given
    days_of_cover: float | None  # in_stock at the last week's pace; None when none given

    @property
    def noshow_rate(self) -> float | None:
        """% of the appointments missed, None without appointments."""
        return 100 * self.noshows / self.scheduled if self.scheduled else None


def site_figures(*, departments: list[str], last: dt.date) -> list[SiteFigures]:
    """Each site of `departments` (an authority's scope) that is not closed: its doses
    given over the last week to `last`, its no-shows over the last four weeks, its stock
    on hand and how many days it lasts at the last week's pace. From the sites' summary
    table and the stock ledger, never the appointments."""
    sites = list(
        Site.objects.filter(department_id__in=departments)
        .exclude(status=Site.Status.CLOSED)
        .order_by("department_id", "name", "pk")
        .values_list("pk", "name", "department_id")
    )
    ids = [pk for pk, _, _ in sites]
    pace_from = last - dt.timedelta(days=PACE_DAYS - 1)
    counted = {
        row["site_id"]: (row["given"], row["scheduled"], row["noshows"])
        for row in SiteDay.objects.filter(
            site_id__in=ids, day__range=(last - dt.timedelta(days=NOSHOW_DAYS - 1), last)
        )
        .values("site_id")
        .annotate(
            given=Sum("given", filter=Q(day__gte=pace_from)),
            scheduled=Sum("scheduled"),
            noshows=Sum("noshows"),
        )
        .order_by()
    }
    received = dict(
        Delivery.objects.filter(site_id__in=ids, status=Delivery.Status.RECEIVED)
        .values_list("site_id")
        .annotate(Sum("quantity"))
        .order_by()
    )
    given_ever = dict(
        Stock.objects.filter(site_id__in=ids)
        .values_list("site_id")
        .annotate(Sum("given"))
        .order_by()
    )
    result = []
    for pk, name, department in sites:
        given, scheduled, noshows = counted.get(pk, (0, 0, 0))
        in_stock = max(0, (received.get(pk) or 0) - (given_ever.get(pk) or 0))
        result.append(
            SiteFigures(
                site_id=pk,
                name=name,
                department=department,
                given_week=given or 0,
                scheduled=scheduled or 0,
                noshows=noshows or 0,
                in_stock=in_stock,
                days_of_cover=in_stock * PACE_DAYS / given if given else None,
            )
        )
    return result
