"""The last eight weeks of the campaign, for the demo's statistics: courses begun every
day in each department in proportion to its population, at a few of its sites, with
their doses given; then the summary tables rebuilt (`stats_rebuild`).

Written in bulk (a service call per dose would take the demo an hour), in the states the
services leave: past sessions closed with their places all taken (`session_close`), each
course's appointments fulfilled with their dose records, the site's stock ledger moved
from delivered to given. A two-dose course whose dose 2 falls today or later has its
dose 1 given and its dose 2 to book (the state `booking_dose2_rebook` starts from: the
dose stays promised by the first-dose place); the course is active. Personal data is
sealed and indexed as the services do it. `tests/demo/test_history.py` checks the rows
against the services: the figures equal a recount, the ledger and the slots hold their
constraints, and a pending dose 2 can be booked by the real service.

What it does not write: the messages of those bookings (sent and purged long ago, in the
story), and audit events (no staff action)."""

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from creneau.booking import tokens
from creneau.booking.addresses import contact_address_index
from creneau.booking.ages import age_band
from creneau.booking.models import Appointment, Contact, Person, Series
from creneau.booking.persons import person_index, person_name_index
from creneau.care.models import Administration
from creneau.demo.bookings import FAMILY_NAMES, GIVEN_NAMES
from creneau.geography.models import Department
from creneau.scheduling.models import Session, Slot
from creneau.sites.models import Site
from creneau.stats.services import stats_rebuild
from creneau.vaccines.models import Delivery, Stock, Vaccine

WEEKS = 8
# About one course per 3,000 inhabitants over the eight weeks: 22,000 for France.
COURSES_PER_INHABITANT = 1 / 3_000
SITES_PER_DEPARTMENT = 3
MORNING, AFTERNOON = dt.time(9), dt.time(14)
SLOT_MINUTES, SLOTS_PER_SESSION = 15, 12
LOT = "DEMO-HIST"
# The phone numbers of the courses (one contact each): a block no real mobile has.
PHONE_PREFIX = "+3369"


@dataclass
class Course:
    site: Site
    vaccine: Vaccine
    booked_on: dt.date
    dose1_on: dt.date
    dose2_on: dt.date | None  # None: one dose, or the dose 2 still to book
    birth_date: dt.date
    given_name: str
    family_name: str


@dataclass
class History:
    courses: int = 0
    doses: int = 0
    departments: int = 0
    by_site: dict = field(default_factory=lambda: defaultdict(list))


def _weight(n: int, days: int, day: dt.date) -> float:
    """The campaign speeding up over the weeks; Sundays quiet, Saturdays half."""
    return (1 + 3 * n / days) * {5: 0.5, 6: 0.1}.get(day.weekday(), 1.0)


def _sites_of(department: Department) -> list[tuple[Site, Vaccine]]:
    """A few published sites of the department with sessions, and their product."""
    chosen = []
    sites = Site.objects.filter(department=department, status=Site.Status.PUBLISHED).order_by(
        "kind", "pk"
    )
    for site in sites[: SITES_PER_DEPARTMENT * 4]:
        session = Session.objects.filter(site=site).select_related("vaccine").first()
        if session is not None:
            chosen.append((site, session.vaccine))
        if len(chosen) == SITES_PER_DEPARTMENT:
            break
    return chosen


def _planned(*, today: dt.date, rng: random.Random) -> History:
    days = [today - dt.timedelta(days=WEEKS * 7 - n) for n in range(WEEKS * 7)]
    weights = [_weight(n, len(days), day) for n, day in enumerate(days)]
    total = sum(weights)
    history = History()
    # One active course per person (invariant 4): a name and birth date drawn twice is
    # drawn again.
    people: set[tuple[str, str, dt.date]] = set()
    for department in Department.objects.filter(population__gt=0).order_by("code"):
        sites = _sites_of(department)
        if not sites:
            continue
        history.departments += 1
        # Some departments faster than others, as in 2021 (the map's shades).
        courses = department.population * COURSES_PER_INHABITANT * rng.uniform(0.6, 1.4)
        for day, weight in zip(days, weights, strict=True):
            for _ in range(round(courses * weight / total * rng.uniform(0.8, 1.2))):
                site, vaccine = rng.choice(sites)
                dose2 = day + dt.timedelta(days=vaccine.interval_min_days)
                while True:
                    age = min(95, int(rng.triangular(18, 96, 80)))
                    someone = (
                        rng.choice(GIVEN_NAMES),
                        rng.choice(FAMILY_NAMES),
                        day.replace(year=day.year - age) - dt.timedelta(days=rng.randint(0, 364)),
                    )
                    if someone not in people:
                        people.add(someone)
                        break
                history.by_site[site.pk].append(
                    Course(
                        site=site,
                        vaccine=vaccine,
                        booked_on=day - dt.timedelta(days=rng.randint(1, 10)),
                        dose1_on=day,
                        dose2_on=dose2 if vaccine.doses_in_series == 2 and dose2 < today else None,
                        given_name=someone[0],
                        family_name=someone[1],
                        birth_date=someone[2],
                    )
                )
                history.courses += 1
    return history


def _sessions(
    site: Site, vaccine: Vaccine, doses: list[tuple[Course, int]]
) -> dict[tuple[dt.date, int], list[Slot]]:
    """A closed session per day and dose number, its places exactly those taken (as
    `session_close` leaves them), and its slots; the doses' places handed out in turn."""
    zone = ZoneInfo(site.department.timezone)
    by_day: dict[tuple[dt.date, int], int] = defaultdict(int)
    for course, dose in doses:
        by_day[course.dose1_on if dose == 1 else course.dose2_on, dose] += 1
    slots: dict[tuple[dt.date, int], list[Slot]] = {}
    for (day, dose), count in sorted(by_day.items()):
        lines = min(100, math.ceil(count / SLOTS_PER_SESSION))
        start = MORNING if dose == 1 else AFTERNOON
        session = Session.objects.create(
            site=site,
            vaccine=vaccine,
            dose_number=dose,
            date=day,
            start_time=start,
            end_time=(dt.datetime.combine(day, start) + dt.timedelta(hours=3)).time(),
            lines=lines,
            slot_minutes=SLOT_MINUTES,
            doses_per_place=vaccine.doses_in_series if dose == 1 else 1,
            status=Session.Status.CLOSED,
        )
        taken = [count // SLOTS_PER_SESSION + (n < count % SLOTS_PER_SESSION) for n in range(12)]
        begins = dt.datetime.combine(day, start, tzinfo=zone)
        slots[day, dose] = Slot.objects.bulk_create(
            Slot(
                session=session,
                site=site,
                vaccine=vaccine,
                dose_number=dose,
                date=day,
                start=begins + dt.timedelta(minutes=SLOT_MINUTES * n),
                end=begins + dt.timedelta(minutes=SLOT_MINUTES * (n + 1)),
                capacity=places,
                booked=places,
            )
            for n, places in enumerate(taken)
            if places
        )
    return slots


@transaction.atomic
def _site_history(
    site: Site, courses: list[Course], *, nurse, rng: random.Random, first_phone: int
) -> int:
    vaccine = courses[0].vaccine
    zone = ZoneInfo(site.department.timezone)
    doses = [(c, 1) for c in courses] + [(c, 2) for c in courses if c.dose2_on]
    slots = _sessions(site, vaccine, doses)
    places = {key: [s for s in row for _ in range(s.capacity)] for key, row in slots.items()}
    contacts = Contact.objects.bulk_create(
        Contact(
            channel=Contact.Channel.SMS,
            address=(phone := f"{PHONE_PREFIX}{first_phone + n:07d}"),
            address_index=contact_address_index(phone),
            verified_at=timezone.now(),
        )
        for n in range(len(courses))
    )
    persons = Person.objects.bulk_create(
        Person(
            contact=contact,
            given_name=c.given_name,
            family_name=c.family_name,
            birth_date=c.birth_date,
            match_key=person_index(
                given_name=c.given_name, family_name=c.family_name, birth_date=c.birth_date
            ),
            name_index=person_name_index(family_name=c.family_name, birth_date=c.birth_date),
        )
        for c, contact in zip(courses, contacts, strict=True)
    )
    complete = vaccine.doses_in_series == 1
    series = Series.objects.bulk_create(
        Series(
            reference=tokens.reference_new(),
            token_salt=tokens.salt_new(),
            person=person,
            person_key=person.match_key,
            contact=person.contact,
            vaccine=vaccine,
            site=site,
            status=Series.Status.COMPLETED if complete or c.dose2_on else Series.Status.ACTIVE,
            age_band=age_band(birth_date=c.birth_date, on=c.dose1_on),
        )
        for c, person in zip(courses, persons, strict=True)
    )
    course_of = {id(c): s for c, s in zip(courses, series, strict=True)}
    appointments = []
    for course, dose in doses:
        slot = places[course.dose1_on if dose == 1 else course.dose2_on, dose].pop()
        appointments.append(
            Appointment(
                series=course_of[id(course)],
                person=course_of[id(course)].person,
                slot=slot,
                dose_number=dose,
                status=Appointment.Status.FULFILLED,
            )
        )
    appointments = Appointment.objects.bulk_create(appointments, batch_size=1000)
    # Booked days before dose 1 (auto_now_add wrote today): each booking day at 10 a.m.
    by_booking = defaultdict(list)
    for appointment, (course, _dose) in zip(appointments, doses, strict=True):
        by_booking[course.booked_on].append(appointment.pk)
    for day, ids in by_booking.items():
        moment = dt.datetime.combine(day, dt.time(10, rng.randint(0, 59)), tzinfo=zone)
        Appointment.objects.filter(pk__in=ids).update(created_at=moment, updated_at=moment)
    Administration.objects.bulk_create(
        (
            Administration(
                appointment=appointment,
                vaccine=vaccine,
                lot=LOT,
                given_at=appointment.slot.start + dt.timedelta(minutes=5),
                given_by=nurse,
                from_status=Administration.FromStatus.ARRIVED,
            )
            for appointment in appointments
        ),
        batch_size=1000,
    )
    # The doses came in one delivery before the first; a dose 2 still to book keeps the
    # dose its first-dose place promised (committed), as booking_dose2_rebook expects.
    pending = sum(1 for c in courses if vaccine.doses_in_series == 2 and not c.dose2_on)
    first_day = min(c.dose1_on for c in courses) - dt.timedelta(days=1)
    Delivery.objects.create(
        site=site,
        vaccine=vaccine,
        quantity=len(appointments) + pending,
        lot=LOT,
        expected_on=first_day,
        status=Delivery.Status.RECEIVED,
        received_at=dt.datetime.combine(first_day, dt.time(8), tzinfo=zone),
    )
    stock, _ = Stock.objects.get_or_create(site=site, vaccine=vaccine)
    Stock.objects.filter(pk=stock.pk).update(
        delivered=F("delivered") + len(appointments) + pending,
        given=F("given") + len(appointments),
        committed=F("committed") + pending,
    )
    return len(appointments)


def demo_history_simulate(*, today: dt.date | None = None, seed: int = 2021) -> History:
    """Once: nothing is written when doses were already recorded."""
    if Administration.objects.exists():
        return History()
    today = today or timezone.localdate()
    rng = random.Random(seed)
    history = _planned(today=today, rng=rng)
    nurse, _ = get_user_model().objects.get_or_create(
        username="demo-historique", defaults={"is_active": False}
    )
    phone = 0
    for courses in history.by_site.values():
        history.doses += _site_history(
            courses[0].site, courses, nurse=nurse, rng=rng, first_phone=phone
        )
        phone += len(courses)
    # Fresh planner statistics for the tables just filled: the rebuild's joins (and every
    # page after it) would otherwise be planned for empty tables.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    stats_rebuild(first=today - dt.timedelta(days=WEEKS * 7 + 10), last=today)
    return history
