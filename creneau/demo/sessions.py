"""Demo schedule: sessions and matching deliveries for the published sites, eight weeks ahead.

Deterministic (each site's choices are seeded by its id) and idempotent: a site gets
sessions only for the days after its last one, so running it again the same day adds
nothing, and running it a week later tops the schedule up to eight weeks again.
"""

import random
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from creneau import sites as sites_app
from creneau.scheduling.models import Session
from creneau.scheduling.services import sessions_open_weekly
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import delivery_record

# The official list as of 18 November 2021, mid-campaign: the sites that were open then.
DEMO_SITES_FILE = Path(sites_app.__file__).parent / "data" / "centres-vaccination_2021-11-18.csv.gz"
WEEKS = 8
MORNING = (time(9), time(12))
AFTERNOON = (time(14), time(17))
SLOT_MINUTES = 15
SLOTS_PER_BLOCK = 3 * 60 // SLOT_MINUTES
# What each kind of site gave in 2021, most often first.
PRODUCTS = {
    Site.Kind.CENTRE: ["comirnaty", "comirnaty", "comirnaty", "spikevax"],
    Site.Kind.HOSPITAL: ["comirnaty", "spikevax"],
    Site.Kind.MOBILE: ["janssen", "comirnaty"],
    Site.Kind.PHARMACY: ["spikevax", "janssen"],
    Site.Kind.GP_PRACTICE: ["janssen", "spikevax"],
}


@dataclass(frozen=True)
class DemoReport:
    sites: int
    sessions: int
    doses_delivered: int


def _site_plan(site: Site, rng: random.Random) -> tuple[str, set[int], int]:
    product = rng.choice(PRODUCTS[site.kind])
    if site.kind in (Site.Kind.CENTRE, Site.Kind.HOSPITAL):
        weekdays = {0, 1, 2, 3, 4} | ({5} if rng.random() < 0.5 else set())
        lines = rng.randint(2, 5)
    else:
        weekdays = set(rng.sample(range(6), 2))
        lines = 1
    return product, weekdays, lines


def _days(first: date, last: date, weekdays: set[int]) -> int:
    return sum(
        1 for n in range((last - first).days + 1) if (first + timedelta(n)).weekday() in weekdays
    )


def demo_schedule_generate(*, today: date | None = None) -> DemoReport:
    """`today` pins the first day everywhere (tests); by default it is each site's own."""
    now = timezone.now()
    vaccines = {v.code: v for v in Vaccine.objects.all()}
    last_days = dict(
        Session.objects.values("site_id").annotate(last=Max("date")).values_list("site_id", "last")
    )
    sites = Site.objects.filter(status=Site.Status.PUBLISHED).select_related("department")
    report = DemoReport(0, 0, 0)
    for site in sites.order_by("pk").iterator(chunk_size=500):
        local_today = today or now.astimezone(ZoneInfo(site.department.timezone)).date()
        horizon = local_today + timedelta(weeks=WEEKS) - timedelta(days=1)
        last = last_days.get(site.pk) or local_today - timedelta(1)
        first = max(local_today, last + timedelta(1))
        if first > horizon:
            continue
        rng = random.Random(site.pk)
        product, weekdays, lines = _site_plan(site, rng)
        vaccine = vaccines[product]
        days = _days(first, horizon, weekdays)
        if not days:
            continue
        # Each first-dose place promises every dose of the series; keep 10 % in reserve.
        doses = days * SLOTS_PER_BLOCK * lines * vaccine.doses_in_series
        delivered = doses + doses // 10
        opened = _site_schedule_open(
            site=site,
            vaccine=vaccine,
            delivered=delivered,
            lot=f"{product[:2].upper()}{rng.randint(1000, 9999)}",
            first=first,
            horizon=horizon,
            weekdays=weekdays,
            lines=lines,
        )
        report = DemoReport(
            report.sites + 1, report.sessions + len(opened), report.doses_delivered + delivered
        )
    return report


@transaction.atomic
def _site_schedule_open(
    *,
    site: Site,
    vaccine: Vaccine,
    delivered: int,
    lot: str,
    first: date,
    horizon: date,
    weekdays: set[int],
    lines: int,
) -> list[Session]:
    """One site's delivery and sessions: all of them or, on any refusal, none."""
    delivery_record(
        site=site,
        vaccine=vaccine,
        quantity=delivered,
        expected_on=first,
        lot=lot,
        received_at=timezone.now(),
    )
    opened = sessions_open_weekly(
        site=site,
        vaccine=vaccine,
        date_from=first,
        date_to=horizon,
        weekdays=weekdays,
        start_time=MORNING[0],
        end_time=MORNING[1],
        lines=lines,
        slot_minutes=SLOT_MINUTES,
    )
    dose2_first = first + timedelta(days=vaccine.interval_min_days)
    if vaccine.doses_in_series == 2 and _days(dose2_first, horizon, weekdays):
        opened += sessions_open_weekly(
            site=site,
            vaccine=vaccine,
            date_from=dose2_first,
            date_to=horizon,
            weekdays=weekdays,
            start_time=AFTERNOON[0],
            end_time=AFTERNOON[1],
            lines=lines,
            slot_minutes=SLOT_MINUTES,
            dose_number=2,
        )
    return opened
