"""Search benchmark (issue 2): GET /api/v1/sites?near=… through gunicorn, 1,000 and 10,000 sites.

Starts everything by itself in a temporary directory and removes it at the end:

1. a fresh SQLite file, `manage.py migrate`, all of France's geography, the vaccines,
   copied once per size;
2. N public sites placed like real ones (communes drawn in proportion to their population,
   at least one per department, overseas included, a few hundred metres of jitter), most
   with eight weeks of sessions, some without any, plus a few drafts and closed sites that
   search must skip. Rows are bulk-inserted for speed, but first the bulk builder is checked
   against the real services (`delivery_record`, `session_open`, `session_close`) on twin
   sites, row for row, and after seeding the whole read model is recounted from the slots
   and every stock ledger from the deliveries and open capacity;
3. gunicorn serving `creneau.wsgi:application` on 127.0.0.1, then a bounded load from a
   few client threads (http.client, HTTP/1.1) with a fixed, seeded list of postcodes,
   town names and positions; every answer must be a 200 with results;
4. an in-process profile of the same searches: SQL queries per search and where the time
   goes (place resolution, ring search, the rest of the request).

Each size has its own database and server, and the sizes are measured in turn, a quarter
of the requests at a time, so that the rest of the machine weighs on both alike. The last
line is the summary the issue asks for (one line):

    search: median <M> ms, p99 <P> ms, <R> searches/s at 10000 sites;
    cost ratio 10000/1000 sites <C>

Run from the project root: .venv/bin/python bench/search.py [--sites 1000,10000]
[--requests 2000] [--seconds 30] [--clients 2] [--workers 2] [--worker-class sync]

Two sync workers and two clients gave the best figures on the 2-core machine this was
written on (10,000 sites, median 17 ms, 100 searches/s): one client, 15 ms but half the
throughput; three clients, 30 ms (queueing); three workers, 21 ms and 86/s; gthread 2 x 2
threads with keep-alive, 23 ms and 75/s. Sync workers close the connection after each
answer, so each search opens one (http.client reconnects by itself).
"""

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlencode

from machine import calibrate, cpu_ticks, free_port, percentile, steal_share

ROOT = Path(__file__).resolve().parent.parent
SEED = 2021
HORIZON_DAYS = 56  # eight weeks of sessions, today included
TWIN_SITES = 16  # plans built both ways, through the services and in bulk, then compared
ROUNDS = 4  # the sizes take turns, a quarter of the requests each time

# Queries a person would type: big-city and rural postcodes, town names (with the
# department where the name is shared), and positions as a phone would send them. Each
# is within 35 km of a department's largest commune, where the first growth always puts a
# site, so every search must find something within the default 50 km, whatever the seed.
QUERIES = [
    *["75017", "75011", "13001", "69003", "33000", "59000", "31000", "44000", "67000", "06000"],
    *["35000", "97400", "97200", "97300", "97110", "97600", "48000", "23000", "15000", "04100"],
    *["09000", "52100", "12000", "46000", "05000", "20000"],
    *["Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Strasbourg", "Bordeaux"],
    *["Lille", "Brest", "Besançon", "Limoges", "clermont ferrand", "Ajaccio", "Saint-Denis (974)"],
    *["Le Tampon", "Cayenne", "Pointe-à-Pitre", "Fort-de-France", "Mende", "Guéret", "Aurillac"],
    *["Langogne", "Tulle", "Bar-le-Duc", "ST ETIENNE (42)"],
    *["48.8566,2.3522", "45.7640,4.8357", "43.2965,5.3698", "50.6292,3.0573", "-21.1151,55.5364"],
    *["14.6161,-61.0588", "44.5180,3.5006", "46.1710,1.8710", "47.0810,2.3988", "48.3904,-4.4861"],
    *["42.6986,2.8956", "45.0420,3.8850", "47.9960,0.1960", "43.9493,4.8055", "49.4944,0.1079"],
    *["44.9333,4.8917"],
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", default="1000,10000", help="public site counts, ascending")
    parser.add_argument("--requests", type=int, default=2000, help="measured searches per size")
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap per size")
    parser.add_argument("--clients", type=int, default=2, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    args.sizes = sorted({int(n) for n in args.sites.split(",")})
    if not args.sizes or args.sizes[0] < 1 or args.sizes[-1] > 50_000:
        parser.error("--sites takes counts from 1 to 50000")
    if not 1 <= args.requests <= 100_000 or not 1 <= args.clients <= 32:
        parser.error("--requests goes up to 100000 and --clients up to 32")
    if not 0 < args.seconds <= 600 or not 1 <= args.workers <= 16:
        parser.error("--seconds goes up to 600 and --workers up to 16")
    return args


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# ---------------------------------------------------------------------------------------
# What to create: a plan per site, pure data, the same whichever way it is written.


@dataclass(frozen=True)
class SessionPlan:
    vaccine: str
    dose_number: int
    day: date
    start_time: clock
    end_time: clock
    lines: int
    slot_minutes: int
    closed: bool = False
    under_way: bool = False


@dataclass(frozen=True)
class DeliveryPlan:
    vaccine: str
    quantity: int
    expected_on: date
    received: bool


@dataclass
class SitePlan:
    fields: dict
    sessions: list[SessionPlan] = field(default_factory=list)
    deliveries: list[DeliveryPlan] = field(default_factory=list)
    public: bool = True


KINDS = {  # share of the sites, as in the 2021 directories
    "pharmacy": 55,
    "gp_practice": 24,
    "centre": 12,
    "hospital": 6,
    "mobile": 3,
}
PROFILES = {  # what a public site has on offer
    "open": 72,  # sessions from today on
    "late": 14,  # sessions only from week 3 or 4 (deliveries announced later)
    "closed_all": 4,  # it had sessions, all closed again: read-model rows at zero
    "stock_only": 4,  # doses delivered, no session yet
    "nothing": 6,  # listed in the directory, nothing to book
}
SURNAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
STREETS = ["rue de la République", "avenue Jean Jaurès", "place de la Mairie", "rue Pasteur"]
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class Planner:
    """Draws sites over France like the real directory, and their sessions and deliveries."""

    def __init__(self, rng: random.Random) -> None:
        from creneau.geography.models import Commune, Department, PostalCode

        self.rng = rng
        postcodes: dict[str, str] = {}
        for code, insee in PostalCode.objects.order_by("code").values_list("code", "commune_id"):
            postcodes.setdefault(insee, code)
        # Paris, Lyon and Marseille are there twice: as a whole (no postcode) and by
        # arrondissement. Sites go to the arrondissements.
        self.communes = [
            row
            for row in Commune.objects.order_by("insee_code").values_list(
                "insee_code", "name", "department_id", "population", "latitude", "longitude"
            )
            if row[0] in postcodes
        ]
        self.postcodes = postcodes
        self.cumulative = []
        total = 0
        for row in self.communes:
            total += max(row[3], 1)
            self.cumulative.append(total)
        self.timezones = dict(Department.objects.values_list("code", "timezone"))
        largest: dict[str, tuple] = {}
        for row in self.communes:
            if row[2] not in largest or row[3] > largest[row[2]][3]:
                largest[row[2]] = row
        self.largest_per_department = [largest[code] for code in sorted(largest)]
        self.count = 0

    def pick(self, *, one_per_department: bool, n: int) -> list[tuple]:
        chosen = list(self.largest_per_department[:n]) if one_per_department else []
        chosen += self.rng.choices(self.communes, cum_weights=self.cumulative, k=n - len(chosen))
        return chosen

    def site(self, commune: tuple, *, now: datetime, public: bool = True) -> SitePlan:
        from zoneinfo import ZoneInfo

        from creneau.core.geo import Position, grid_cell

        rng = self.rng
        self.count += 1
        insee, town, department, _, latitude, longitude = commune
        # A few hundred metres from the commune's centre, in any direction.
        metres, bearing = abs(rng.gauss(0, 400)), rng.uniform(0, 2 * math.pi)
        latitude += metres * math.cos(bearing) / 111_195
        longitude += metres * math.sin(bearing) / (111_195 * math.cos(math.radians(latitude)))
        latitude, longitude = round(latitude, 6), round(longitude, 6)
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        status, publish_at = "published", None
        if public and rng.random() < 0.05:  # scheduled publication, time has come
            status, publish_at = "draft", now - timedelta(hours=rng.randint(1, 72))
        elif not public:
            if rng.random() < 0.75:  # prepared in advance, published tomorrow
                status, publish_at = "draft", now + timedelta(days=1)
            else:
                status = "closed"
        name = {
            "pharmacy": f"Pharmacie {rng.choice(SURNAMES)}",
            "gp_practice": f"Cabinet médical du Dr {rng.choice(SURNAMES)}",
            "centre": "Centre de vaccination",
            "hospital": "Centre hospitalier",
            "mobile": "Équipe mobile de vaccination",
        }[kind]
        plan = SitePlan(
            public=public,
            fields=dict(
                name=f"{name} — {town} #{self.count}",
                kind=kind,
                status=status,
                publish_at=publish_at,
                address=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                postcode=self.postcodes[insee],
                commune_id=insee,
                department_id=department,
                latitude=latitude,
                longitude=longitude,
                grid_cell=grid_cell(Position(latitude, longitude)),
                phone=f"+33{rng.choice('1234567')}{rng.randint(10_000_000, 99_999_999)}",
                accessibility=rng.choice(["", "Accès PMR", "Rez-de-chaussée, accès fauteuil"]),
                restricted_to=["caregiver"] if rng.random() < 0.04 else [],
                source="bench",
            ),
        )
        if status == "closed":
            return plan
        profile = rng.choices(list(PROFILES), weights=list(PROFILES.values()))[0]
        local_now = now.astimezone(ZoneInfo(self.timezones[department]))
        today = local_now.date()
        if profile in ("open", "late", "closed_all"):
            first = rng.randint(14, 28) if profile == "late" else 0
            plan.sessions = self.sessions(kind, today=today, first_offset=first)
            if profile == "closed_all":
                plan.sessions = [
                    SessionPlan(**{**s.__dict__, "closed": True}) for s in plan.sessions
                ]
            elif profile == "open" and kind in ("centre", "hospital") and plan.sessions:
                plan.sessions.insert(0, self.under_way(plan.sessions[0], local_now=local_now))
        hours: dict[int, tuple[clock, clock]] = {}
        for s in plan.sessions:
            opens, closes = hours.get(s.day.weekday(), (s.start_time, s.end_time))
            hours[s.day.weekday()] = (min(opens, s.start_time), max(closes, s.end_time))
        plan.fields["opening_hours"] = {
            DAY_NAMES[day]: f"{opens:%H:%M}-{closes:%H:%M}"
            for day, (opens, closes) in sorted(hours.items())
        }
        plan.deliveries = self.deliveries(plan.sessions, today=today, profile=profile)
        return plan

    def sessions(self, kind: str, *, today: date, first_offset: int) -> list[SessionPlan]:
        rng = self.rng
        # (weekdays open, [(start, end)], slot minutes, lines, vaccines and weights)
        if kind == "centre":
            weekdays = rng.sample(range(6), rng.randint(4, 6))
            shape = [(clock(9), clock(12, 30)), (clock(13, 30), clock(18))]
            minutes, lines, vaccines = 15, rng.randint(3, 8), {"comirnaty": 7, "spikevax": 3}
        elif kind == "hospital":
            weekdays = rng.sample(range(5), rng.randint(3, 5))
            shape = [(clock(8, 30), clock(12, 30))]
            minutes, lines, vaccines = 15, rng.randint(2, 4), {"comirnaty": 1}
        elif kind == "pharmacy":
            weekdays = rng.sample(range(6), rng.randint(2, 3))
            shape = [(clock(14), clock(17))]
            minutes, lines = 15, rng.randint(1, 2)
            vaccines = {"janssen": 3, "spikevax": 4, "comirnaty": 3}
        elif kind == "gp_practice":
            weekdays = rng.sample(range(5), rng.randint(1, 2))
            shape = [rng.choice([(clock(9), clock(11)), (clock(17), clock(19))])]
            minutes, lines, vaccines = 15, 1, {"vaxzevria": 1, "comirnaty": 1}
        else:  # mobile
            weekdays = rng.sample(range(6), rng.randint(1, 2))
            shape = [(clock(10), clock(16))]
            minutes, lines, vaccines = 20, 2, {"janssen": 3, "comirnaty": 2}
        code = rng.choices(list(vaccines), weights=list(vaccines.values()))[0]
        two_doses = code != "janssen"
        second_from = {"comirnaty": 21, "spikevax": 28, "vaxzevria": 63}.get(code, 10**6)
        sessions = []
        for offset in range(first_offset, HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in weekdays:
                continue
            for index, (start, end) in enumerate(shape):
                # Second doses come back from week 4 on: the afternoon, or one day in two.
                dose = 1
                if two_doses and offset >= second_from and (index == 1 or offset % 2):
                    dose = 2
                sessions.append(
                    SessionPlan(
                        vaccine=code,
                        dose_number=dose,
                        day=day,
                        start_time=start,
                        end_time=end,
                        lines=lines,
                        slot_minutes=minutes,
                        closed=rng.random() < 0.03,  # a day cancelled here and there
                    )
                )
        return sessions

    def under_way(self, model: SessionPlan, *, local_now: datetime) -> SessionPlan:
        """A session of today that began two hours ago (a late-opening vaccinodrome at night).

        Search recounts from the slots a read-model row whose first free place has already
        begun; this makes that path run whatever the hour or the day of the week.
        """
        minute = local_now.hour * 60 + local_now.minute
        start = max(0, min(minute - 120, 20 * 60)) // 15 * 15
        end = min(start + 240, 23 * 60 + 45)
        return SessionPlan(
            vaccine=model.vaccine,
            dose_number=1,
            day=local_now.date(),
            start_time=clock(start // 60, start % 60),
            end_time=clock(end // 60, end % 60),
            lines=model.lines,
            slot_minutes=15,
            under_way=True,
        )

    def deliveries(self, sessions, *, today: date, profile: str) -> list[DeliveryPlan]:
        rng = self.rng
        if profile == "stock_only":
            code = rng.choice(["comirnaty", "spikevax", "janssen"])
            return [DeliveryPlan(code, rng.randint(50, 600), today, received=True)]
        needed: Counter = Counter()
        for s in sessions:  # every session is opened before any is closed: cover them all
            needed[s.vaccine] += places(s) * doses_per_place_of(s)
        plans = []
        for code, doses in sorted(needed.items()):
            if doses <= 0:
                continue
            doses += math.ceil(doses * rng.choice([0, 0, 0.05, 0.1, 0.2, 0.5]))
            parts = min(rng.randint(1, 3), doses)
            base = doses // parts
            for i in range(parts):
                quantity = base + (doses - base * parts if i == 0 else 0)
                plans.append(DeliveryPlan(code, quantity, today + timedelta(7 * i), i == 0))
        return plans


_VACCINES: dict[str, object] = {}


def vaccine(code: str):
    from creneau.vaccines.models import Vaccine

    if code not in _VACCINES:
        _VACCINES[code] = Vaccine.objects.get(code=code)
    return _VACCINES[code]


def doses_per_place_of(s: SessionPlan) -> int:
    from creneau.scheduling.services import doses_per_place

    return doses_per_place(vaccine=vaccine(s.vaccine), dose_number=s.dose_number)


def windows_of(s: SessionPlan, tz) -> list[tuple[datetime, datetime]]:
    # The service's own window arithmetic: a bulk slot starts exactly where session_open's would.
    from creneau.scheduling.services import _slot_windows

    return _slot_windows(
        day=s.day, start_time=s.start_time, end_time=s.end_time, slot_minutes=s.slot_minutes, tz=tz
    )


def places(s: SessionPlan) -> int:
    minutes = (
        datetime.combine(s.day, s.end_time) - datetime.combine(s.day, s.start_time)
    ).seconds // 60
    return (minutes // s.slot_minutes) * s.lines


# ---------------------------------------------------------------------------------------
# Two ways to write a plan: through the services, one call at a time, or in bulk.


def write_through_services(plan: SitePlan, *, now: datetime):
    from creneau.scheduling.services import session_close, session_open
    from creneau.sites.models import Site
    from creneau.vaccines.services import delivery_record

    site = Site.objects.create(**plan.fields)
    for d in plan.deliveries:
        delivery_record(
            site=site,
            vaccine=vaccine(d.vaccine),
            quantity=d.quantity,
            expected_on=d.expected_on,
            lot="LOT-BENCH" if d.received else "",
            received_at=now if d.received else None,
        )
    opened = []
    for s in plan.sessions:
        session = session_open(
            site=site,
            vaccine=vaccine(s.vaccine),
            day=s.day,
            start_time=s.start_time,
            end_time=s.end_time,
            lines=s.lines,
            slot_minutes=s.slot_minutes,
            dose_number=s.dose_number,
            now=now,
        )
        opened.append((session, s))
    for session, s in opened:
        if s.closed:
            session_close(actor=None, session_id=session.pk)
    return site


class Adapter:
    """Database values of dates and datetimes, memoised: most sites share days and hours."""

    def __init__(self) -> None:
        from django.db import connection

        self.ops = connection.ops
        self.memo: dict = {}

    def __call__(self, value):
        if value not in self.memo:
            if isinstance(value, datetime):
                self.memo[value] = self.ops.adapt_datetimefield_value(value)
            else:
                self.memo[value] = self.ops.adapt_datefield_value(value)
        return self.memo[value]


SLOT_COLUMNS = ["session", "site", "vaccine", "dose_number", "date", "start", "end"]
SLOT_COLUMNS += ["capacity", "booked"]
DAY_COLUMNS = ["site", "vaccine", "dose_number", "date", "free"]
DAY_COLUMNS += ["first_free_start", "last_free_start"]


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    from django.db import connection

    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})", rows
        )


def write_in_bulk(plans: list[SitePlan], *, now: datetime, adapt: Adapter) -> list:
    """The rows the services would leave behind, written a batch of sites at a time."""
    from zoneinfo import ZoneInfo

    from django.db import transaction

    from creneau.geography.models import Department
    from creneau.scheduling.models import DayAvailability, Session, Slot
    from creneau.sites.models import Site
    from creneau.vaccines.models import Delivery, Stock

    timezones = dict(Department.objects.values_list("code", "timezone"))
    with transaction.atomic():
        sites = Site.objects.bulk_create([Site(**plan.fields) for plan in plans])
        deliveries, sessions, shapes = [], [], []
        stock: dict[tuple[int, int], list[int]] = {}
        for site, plan in zip(sites, plans, strict=True):
            for d in plan.deliveries:
                deliveries.append(
                    Delivery(
                        site=site,
                        vaccine=vaccine(d.vaccine),
                        quantity=d.quantity,
                        lot="LOT-BENCH" if d.received else "",
                        expected_on=d.expected_on,
                        status="received" if d.received else "expected",
                        received_at=now if d.received else None,
                    )
                )
                stock.setdefault((site.pk, vaccine(d.vaccine).pk), [0, 0])[0] += d.quantity
            for s in plan.sessions:
                per_place = doses_per_place_of(s)
                sessions.append(
                    Session(
                        site=site,
                        vaccine=vaccine(s.vaccine),
                        dose_number=s.dose_number,
                        date=s.day,
                        start_time=s.start_time,
                        end_time=s.end_time,
                        lines=s.lines,
                        slot_minutes=s.slot_minutes,
                        doses_per_place=per_place,
                        status="closed" if s.closed else "open",
                    )
                )
                shapes.append((site, s, per_place))
                if per_place and not s.closed:  # session_close gives its doses back
                    stock[(site.pk, vaccine(s.vaccine).pk)][1] += places(s) * per_place
        Delivery.objects.bulk_create(deliveries, batch_size=500)
        Session.objects.bulk_create(sessions, batch_size=500)
        Stock.objects.bulk_create(
            [
                Stock(site_id=site_id, vaccine_id=vaccine_id, delivered=got, committed=promised)
                for (site_id, vaccine_id), (got, promised) in stock.items()
            ],
            batch_size=500,
        )
        slots, days = [], {}
        for session, (site, s, _) in zip(sessions, shapes, strict=True):
            tz = ZoneInfo(timezones[site.department_id])
            capacity = 0 if s.closed else s.lines  # session_close: capacity = booked = 0
            key = (site.pk, session.vaccine_id, s.dose_number, s.day)
            figures = days.setdefault(key, [0, None, None])
            for start, end in windows_of(s, tz):
                slots.append(
                    (
                        session.pk,
                        site.pk,
                        session.vaccine_id,
                        s.dose_number,
                        adapt(s.day),
                        adapt(start),
                        adapt(end),
                        capacity,
                        0,
                    )
                )
                if capacity:
                    figures[0] += capacity
                    figures[1] = start if figures[1] is None else min(figures[1], start)
                    figures[2] = start if figures[2] is None else max(figures[2], start)
        insert_rows(
            Slot,
            SLOT_COLUMNS,
            slots,
        )
        insert_rows(
            DayAvailability,
            DAY_COLUMNS,
            [
                (*key[:3], adapt(key[3]), free, first and adapt(first), last and adapt(last))
                for key, (free, first, last) in days.items()
            ],
        )
    return sites


def site_rows(site_id: int) -> dict[str, list]:
    """Everything written for one site, without ids, comparable between two sites."""
    from creneau.scheduling.models import DayAvailability, Session, Slot
    from creneau.vaccines.models import Delivery, Stock

    session_fields = ["vaccine_id", "dose_number", "date", "start_time", "end_time", "lines"]
    session_fields += ["slot_minutes", "doses_per_place", "status"]
    sessions = {
        row[0]: row[1:]
        for row in Session.objects.filter(site_id=site_id).values_list("pk", *session_fields)
    }
    return {
        "sessions": sorted(sessions.values()),
        "slots": sorted(
            (sessions[session_id], *rest)
            for session_id, *rest in Slot.objects.filter(site_id=site_id).values_list(
                "session_id", "vaccine_id", "dose_number", "date", "start", "end", "capacity"
            )
        ),
        "availability": sorted(
            DayAvailability.objects.filter(site_id=site_id).values_list(
                "vaccine_id", "dose_number", "date", "free", "first_free_start", "last_free_start"
            )
        ),
        "stock": sorted(
            Stock.objects.filter(site_id=site_id).values_list(
                "vaccine_id", "delivered", "committed", "given"
            )
        ),
        "deliveries": sorted(
            Delivery.objects.filter(site_id=site_id).values_list(
                "vaccine_id", "quantity", "lot", "expected_on", "status", "received_at"
            )
        ),
    }


def check_bulk_matches_services(planner: Planner, *, now: datetime, adapt: Adapter) -> str:
    """Write the same plans both ways, compare row for row, and roll everything back."""
    from django.db import transaction

    plans: list[SitePlan] = []
    wanted = dict.fromkeys(["closed session", "dose 2", "under way", "overseas", "janssen"], False)
    while len(plans) < TWIN_SITES or not all(wanted.values()):
        commune = planner.pick(one_per_department=False, n=1)[0]
        if not wanted["overseas"] and len(plans) == 0:
            commune = next(c for c in planner.largest_per_department if c[2] == "974")
        plan = planner.site(commune, now=now)
        if not plan.sessions and len(plans) >= TWIN_SITES // 2:
            continue
        wanted["closed session"] |= any(s.closed for s in plan.sessions)
        wanted["dose 2"] |= any(s.dose_number == 2 for s in plan.sessions)
        wanted["under way"] |= any(s.under_way for s in plan.sessions)
        wanted["overseas"] |= len(plan.fields["department_id"]) == 3
        wanted["janssen"] |= any(s.vaccine == "janssen" for s in plan.sessions)
        plans.append(plan)
        if len(plans) > 200:
            raise RuntimeError("could not draw varied twin sites")
    differences, compared = 0, Counter()
    with transaction.atomic():
        for plan in plans:
            by_services = site_rows(write_through_services(plan, now=now).pk)
            by_bulk = site_rows(write_in_bulk([plan], now=now, adapt=adapt)[0].pk)
            for table, rows in by_services.items():
                compared[table] += len(rows)
                if rows != by_bulk[table]:
                    differences += 1
                    print(f"  bulk builder differs from the services on {table}: {plan.fields}")
        transaction.set_rollback(True)
    if differences:
        raise SystemExit("the bulk builder does not write what the services write")
    return (
        f"bulk builder = services on {len(plans)} twin sites ({compared['sessions']} sessions, "
        f"{compared['slots']:,} slots, {compared['availability']} read-model rows, "
        f"{compared['stock']} stock rows; with {', '.join(wanted)}): 0 differences"
    )


def grow(planner: Planner, *, public: int, first: bool, now: datetime, adapt: Adapter) -> int:
    """Add `public` public sites (and about 4% more that the public must not see)."""
    communes = planner.pick(one_per_department=first, n=public)
    plans = [planner.site(c, now=now) for c in communes]
    hidden = planner.pick(one_per_department=False, n=max(1, public * 4 // 100))
    plans += [planner.site(c, now=now, public=False) for c in hidden]
    planner.rng.shuffle(plans)
    for i in range(0, len(plans), 500):
        write_in_bulk(plans[i : i + 500], now=now, adapt=adapt)
    return len(hidden)


def check_invariants() -> tuple[str, int]:
    """Recount the read model from the slots and each ledger from deliveries and capacity."""
    from django.db.models import F, Max, Min, Sum

    from creneau.scheduling.models import DayAvailability, Slot
    from creneau.vaccines.models import Delivery, Stock

    violations = 0
    recount = {
        (site, vaccine_id, dose, day): (free, first, last)
        for site, vaccine_id, dose, day, free, first, last in Slot.objects.filter(
            booked__lt=F("capacity")
        )
        .values("site_id", "vaccine_id", "dose_number", "date")
        .annotate(free=Sum(F("capacity") - F("booked")), first=Min("start"), last=Max("start"))
        .values_list("site_id", "vaccine_id", "dose_number", "date", "free", "first", "last")
    }
    keys = set()
    rows = DayAvailability.objects.values_list(
        "site_id", "vaccine_id", "dose_number", "date", "free", *DAY_COLUMNS[-2:]
    )
    for site, vaccine_id, dose, day, free, first, last in rows.iterator(chunk_size=20_000):
        key = (site, vaccine_id, dose, day)
        keys.add(key)
        if (free, first, last) != recount.get(key, (0, None, None)):
            violations += 1
    # Every day with slots has its row, and nothing is free that the read model misses.
    slot_days = set(Slot.objects.values_list("site_id", "vaccine_id", "dose_number", "date"))
    violations += len(slot_days - keys) + len(set(recount) - keys)
    violations += Slot.objects.filter(booked__gt=F("capacity")).count()

    promised = {
        (site, vaccine_id): doses
        for site, vaccine_id, doses in Slot.objects.values("site_id", "vaccine_id")
        .annotate(doses=Sum(F("capacity") * F("session__doses_per_place")))
        .values_list("site_id", "vaccine_id", "doses")
    }
    delivered = {
        (site, vaccine_id): doses
        for site, vaccine_id, doses in Delivery.objects.exclude(status="cancelled")
        .values("site_id", "vaccine_id")
        .annotate(doses=Sum("quantity"))
        .values_list("site_id", "vaccine_id", "doses")
    }
    stocks = 0
    for site, vaccine_id, got, committed, given in Stock.objects.values_list(
        "site_id", "vaccine_id", "delivered", "committed", "given"
    ):
        stocks += 1
        over_promised = committed + given > got
        ledger_wrong = committed != promised.get((site, vaccine_id), 0) or got != delivered.get(
            (site, vaccine_id), 0
        )
        violations += over_promised + ledger_wrong
    counted = sum(1 for key, doses in promised.items() if doses)
    stock_keys = set(Stock.objects.values_list("site_id", "vaccine_id"))
    violations += sum(1 for key, doses in promised.items() if doses and key not in stock_keys)
    slots = Slot.objects.count()
    return (
        f"invariants checked: {len(keys):,} read-model rows recounted from {slots:,} slots, "
        f"{stocks:,} stock rows ({counted:,} with promises) against deliveries and open "
        f"capacity (committed + given <= delivered): {violations} violations",
        violations,
    )


# ---------------------------------------------------------------------------------------
# The server and the load.


def search_path(query: str) -> str:
    return "/api/v1/sites?" + urlencode({"near": query})


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Host": "127.0.0.1", "Accept": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def start_server(args, env: dict, workdir: Path) -> tuple[subprocess.Popen, int, object]:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "creneau.wsgi:application"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    command += ["--worker-class", args.worker_class, "--log-level", "warning"]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    log = open(workdir / "gunicorn.log", "ab")  # noqa: SIM115 (closed by stop_server)
    server = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            status, _ = get(conn, search_path("75017"))
            conn.close()
            if status == 200:
                return server, port, log
        except OSError:
            time.sleep(0.1)
    stop_server(server, log)
    tail = (workdir / "gunicorn.log").read_text(errors="replace")[-3000:]
    raise SystemExit(f"gunicorn did not answer on 127.0.0.1:{port}\n{tail}")


def stop_server(server: subprocess.Popen | None, log=None) -> None:
    if server is not None and server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # its own group: the master and its workers
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    if log is not None:
        log.close()


@dataclass
class LoadResult:
    latencies: list[float]
    seconds: float
    errors: list[str]
    results: int
    connections: int


def run_load(port: int, *, requests: int, seconds: float, clients: int, seed: int) -> LoadResult:
    """`requests` searches from `clients` threads, each on its own HTTP/1.1 connection."""
    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    errors: list[str] = []
    counts = [0, 0]  # results, connections opened
    start = time.perf_counter()
    deadline = start + seconds

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, results, opened = [], 0, 0
        try:
            while True:
                with lock:
                    if issued[0] >= requests or time.perf_counter() >= deadline:
                        break
                    issued[0] += 1
                query = rng.choice(QUERIES)
                opened += conn.sock is None  # sync workers close after each answer
                began = time.perf_counter()
                try:
                    status, body = get(conn, search_path(query))
                except (OSError, http.client.HTTPException) as error:
                    conn.close()
                    errors.append(f"{query}: {error!r}")
                    continue
                mine.append(time.perf_counter() - began)
                found = len(json.loads(body).get("results", [])) if status == 200 else 0
                if status != 200 or not found:
                    errors.append(f"{query}: HTTP {status}, {found} results: {body[:200]!r}")
                results += found
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                counts[0] += results
                counts[1] += opened

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(latencies, time.perf_counter() - start, errors, counts[0], counts[1])


def cpu_seconds() -> dict[int, tuple[int, float]]:
    """CPU time used so far by every process: {pid: (process group, seconds)}."""
    tick = os.sysconf("SC_CLK_TCK")
    usage = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                group, user, system = int(fields[2]), int(fields[11]), int(fields[12])
                usage[int(entry.name)] = (group, (user + system) / tick)
    return usage


def cpu_split(before: dict, after: dict, server_group: int) -> tuple[float, float, float]:
    """CPU seconds spent between two snapshots by the server, this process, everything else."""
    spent = [0.0, 0.0, 0.0]
    for pid, (group, seconds) in after.items():
        used = seconds - before.get(pid, (group, 0.0))[1]
        spent[0 if group == server_group else 1 if pid == os.getpid() else 2] += used
    return spent[0], spent[1], spent[2]


# ---------------------------------------------------------------------------------------
# In-process profile: queries per search and where the time goes.


def profile(rounds: int = 5) -> str:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from creneau.geography.selectors import place_resolve
    from creneau.scheduling.selectors import availability_search

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise, no collectstatic
    client = Client(SERVER_NAME="127.0.0.1")
    queries, place_queries = [], []
    for query in QUERIES:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(search_path(query))
        assert response.status_code == 200, (query, response.content[:200])
        queries.append(len(captured))
        with CaptureQueriesContext(connection) as captured:
            place_resolve(query=query)
        place_queries.append(len(captured))
        connection.close()
    # The test client keeps the connection open; the server opens one per request
    # (CONN_MAX_AGE is 0 for SQLite), so close it first to pay what the server pays.
    total, place, search, connect = [], [], [], []
    for _ in range(rounds):
        for query in QUERIES:
            connection.close()
            began = time.perf_counter()
            client.get(search_path(query))
            total.append(time.perf_counter() - began)
            connection.close()
            began = time.perf_counter()
            connection.ensure_connection()
            connect.append(time.perf_counter() - began)
            began = time.perf_counter()
            found = place_resolve(query=query)
            place.append(time.perf_counter() - began)
            began = time.perf_counter()
            availability_search(origin=found.position)
            search.append(time.perf_counter() - began)
    connection.close()
    ms = [statistics.fmean(values) * 1000 for values in (total, connect, place, search)]
    rest = ms[0] - sum(ms[1:])
    return (
        f"{statistics.median(queries):.0f} SQL queries/search (min {min(queries)}, max "
        f"{max(queries)}; place resolution {statistics.median(place_queries):.0f}); means: "
        f"whole request {ms[0]:.2f} ms = connection {ms[1]:.2f} + place resolution "
        f"{ms[2]:.2f} + ring search {ms[3]:.2f} + the rest (middleware, ninja, JSON) {rest:.2f}"
    )


# ---------------------------------------------------------------------------------------


def use_database(path: Path) -> None:
    """Point this process's Django connection at another file of the same schema."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = str(path)


def summary_of(size: int, seeded: float, now: datetime) -> str:
    from django.utils import timezone

    from creneau.scheduling.models import DayAvailability, Slot
    from creneau.sites.models import Site
    from creneau.sites.selectors import site_list_public

    public = site_list_public(now=now)
    with_free = (
        public.filter(availability__free__gt=0, availability__last_free_start__gte=now)
        .distinct()
        .count()
    )
    departments = public.values("department_id").distinct().count()
    begun = DayAvailability.objects.filter(
        free__gt=0, first_free_start__lt=timezone.now(), last_free_start__gte=now
    ).count()
    return (
        f"{size} sites: {public.count():,} public sites "
        f"({Site.objects.count() - public.count()} drafts and closed sites besides) in "
        f"{departments} departments, {with_free:,} with free places; "
        f"{Slot.objects.count():,} slots, {DayAvailability.objects.count():,} read-model rows "
        f"({begun:,} of them today's and already begun: recounted from slots at search time); "
        f"seeded in {seeded:.1f} s"
    )


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="creneau-bench-search-"))
    base = workdir / "base.sqlite3"
    databases = {size: workdir / f"sites-{size}.sqlite3" for size in args.sizes}

    def env_for(path: Path) -> dict[str, str]:
        return {
            "DATABASE_URL": f"sqlite:///{path}",
            "CRENEAU_DEMO": "1",
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "creneau.settings",
            "LOG_LEVEL": "WARNING",
        }

    os.environ.pop("REDIS_URL", None)  # the embedded default: SQLite and local memory
    servers: dict[int, tuple] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, **env_for(base)},
            check=True,
        )
        django_setup(env_for(base))
        from django.db import connection
        from django.utils import timezone

        from creneau.geography.services import geography_load
        from creneau.vaccines.services import vaccines_seed

        loaded = geography_load()
        vaccines_seed()
        print(
            f"databases in {workdir} (SQLite {connection.Database.sqlite_version}): "
            f"{loaded['communes']:,} communes, {loaded['postal_codes']:,} postcodes, "
            f"{loaded['departments']} departments loaded in {time.perf_counter() - began:.1f} s"
        )
        now = timezone.now()
        adapt = Adapter()
        print(check_bulk_matches_services(Planner(random.Random(args.seed)), now=now, adapt=adapt))

        # One database per size, each drawn afresh, so that the sizes can be measured in
        # alternation: whatever else the machine does weighs on both alike.
        for size, path in databases.items():
            use_database(base)
            with connection.cursor() as cursor:  # everything in the main file before the copy
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
            shutil.copyfile(base, path)
            use_database(path)
            began = time.perf_counter()
            planner = Planner(random.Random(f"{args.seed}-{size}"))
            grow(planner, public=size, first=True, now=now, adapt=adapt)
            print(summary_of(size, time.perf_counter() - began, now))
            report, violations = check_invariants()
            print(f"  {report}")
            if violations:
                raise SystemExit("the seeded data break the invariants")
        use_database(base)

        kind = f"{args.workers} {args.worker_class} workers"
        if args.worker_class == "gthread":
            kind += f" x {args.threads} threads"
        for size, path in databases.items():
            servers[size] = start_server(args, env_for(path), workdir)
            warm = run_load(
                servers[size][1],
                requests=4 * len(QUERIES),
                seconds=20,
                clients=args.clients,
                seed=0,
            )
            if warm.errors:
                raise SystemExit(f"warm-up at {size} sites: {warm.errors[:3]}")
        speed = [calibrate()]
        rounds = max(1, min(ROUNDS, args.requests // 100))
        loads: dict[int, list[LoadResult]] = {size: [] for size in args.sizes}
        cpu = {size: [0.0, 0.0, 0.0] for size in args.sizes}
        steal = [0.0, 0.0]
        for number in range(rounds):
            for size in args.sizes:
                server, port, _ = servers[size]
                before, ticks = cpu_seconds(), cpu_ticks()
                loads[size].append(
                    run_load(
                        port,
                        requests=math.ceil(args.requests / rounds),
                        seconds=args.seconds / rounds,
                        clients=args.clients,
                        seed=args.seed * 100 + number,
                    )
                )
                spent = cpu_split(before, cpu_seconds(), server.pid)
                cpu[size] = [a + b for a, b in zip(cpu[size], spent, strict=True)]
                steal = [a + b for a, b in zip(steal, steal_share(ticks), strict=True)]
        for size in args.sizes:
            stop_server(servers[size][0], servers[size][2])
        servers.clear()
        speed.append(calibrate())

        print(
            f"gunicorn {kind}, one server per database on 127.0.0.1, {args.clients} client "
            f"threads (http.client, HTTP/1.1), the sizes measured in turn over {rounds} rounds; "
            f"CPU time stolen by the hypervisor: {100 * steal[0] / max(steal[1], 1):.1f}%; "
            f"speed check (a fixed Python loop, lower is faster): {speed[0]:.0f} ms before the "
            f"load, {speed[1]:.0f} ms after"
        )
        figures = {}
        for size in args.sizes:
            latencies = [x for load in loads[size] for x in load.latencies]
            errors = [x for load in loads[size] for x in load.errors]
            seconds = sum(load.seconds for load in loads[size])
            for error in errors[:5]:
                print(f"  error: {error}")
            if errors:
                raise SystemExit(f"{len(errors)} searches failed or found nothing")
            n = len(latencies)
            results = sum(load.results for load in loads[size])
            connections = sum(load.connections for load in loads[size])
            median = statistics.median(latencies) * 1000
            p99 = percentile(latencies, 0.99) * 1000
            rate = n / seconds
            figures[size] = (median, p99, rate)
            server_cpu, client_cpu, other_cpu = cpu[size]
            print(
                f"{size} sites: {n:,} searches in {seconds:.1f} s, all 200 with results "
                f"({results / n:.1f} per search): median {median:.2f} ms, "
                f"p90 {percentile(latencies, 0.9) * 1000:.2f} ms, p99 {p99:.2f} ms, "
                f"max {max(latencies) * 1000:.2f} ms, {rate:.1f} searches/s"
            )
            print(
                f"  {connections:,} connections opened; CPU: server {server_cpu / n * 1000:.2f} ms "
                f"per search, clients {client_cpu / seconds:.2f} cores, other processes "
                f"{other_cpu / seconds:.2f} cores (of {os.cpu_count()})"
            )
            use_database(databases[size])
            print(f"  profile, in process, one search at a time: {profile()}")
        use_database(base)

        small, large = args.sizes[0], args.sizes[-1]
        cost = figures[large][0] / figures[small][0]
        throughput = figures[large][2] / figures[small][2]
        print(
            f"\ncost ratio {large}/{small} sites (median latency): {cost:.2f} (goal < 2); "
            f"throughput ratio: {throughput:.2f}; median at {large} sites "
            f"{figures[large][0]:.2f} ms (goal < 20 ms)"
        )
        median, p99, rate = figures[large]
        print(
            f"search: median {median:.2f} ms, p99 {p99:.2f} ms, {rate:.1f} searches/s "
            f"at {large} sites; cost ratio {large}/{small} sites {cost:.2f}"
        )
    finally:
        for server, _, log in servers.values():
            stop_server(server, log)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
