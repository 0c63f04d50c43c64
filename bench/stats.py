"""Statistics at scale (issue 18, item 9): the summary tables rebuilt from many doses,
one day refreshed, the statistics page and the open-data files served, on PostgreSQL.

In a throwaway PostgreSQL (scripts/with-postgres.sh): `--departments` departments with
two sites each, `--days` days of one closed session a site a day, and `--doses` doses
given, each with its appointment (booked a few days before, in one of the age bands),
written by SQL in the database (generate_series, one statement a table, foreign-key
triggers off: the services would take days for ten million). Then `stats_rebuild` over
every day at once, one day's `stats_refresh` (the median of five) and its plan checked
(every source read through its index, or the bench fails), a recount of the tables'
figures by plain SQL GROUP BYs (every difference counted: the bench fails on one), and
`--requests` requests each of /statistiques/, the open-data files and the sites file
through Django's test client, in process (the first one, which renders after a refresh,
then the median and p99 of the others). The machine's load is printed with them.

Run from the project root: .venv/bin/python bench/stats.py [--doses 10000000]
[--departments 100] [--days 180] [--requests 50]. The last line sums it up:

    stats: rebuild <R> s, day refresh <D> ms, page median <P> ms, <N> differences from recount
"""

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _inner(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from creneau.booking.ages import AGE_BAND_LABELS
    from creneau.geography.models import Department
    from creneau.geography.services import geography_load
    from creneau.sites.models import Site
    from creneau.stats.models import AppointmentDay, VaccinationDay
    from creneau.stats.services import stats_rebuild, stats_refresh
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import vaccines_seed

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    geography_load(departments=())
    vaccines_seed()
    vaccine = Vaccine.objects.get(code="comirnaty")
    departments = list(
        Department.objects.filter(population__gt=0).order_by("-population")[: args.departments]
    )
    today = dt.date.today()
    first = today - dt.timedelta(days=args.days)
    per_slot = max(1, args.doses // (2 * len(departments) * args.days))
    started = time.monotonic()
    with connection.cursor() as cursor:
        q = cursor.execute
        q(
            "INSERT INTO booking_contact (channel, address, address_index, landline, "
            "landline_index, language, created_at) VALUES ('sms', 'x', 'bench', '', '', 'fr', "
            "now()) RETURNING id"
        )
        contact = cursor.fetchone()[0]
        q(
            "INSERT INTO booking_person (contact_id, given_name, family_name, birth_date, "
            "categories, match_key, name_index, created_at) VALUES (%s, 'x', 'x', 'x', 'x', "
            "'bench', 'bench', now()) RETURNING id",
            [contact],
        )
        person = cursor.fetchone()[0]
        sites = [
            site.pk
            for site in Site.objects.bulk_create(
                Site(
                    name=f"Centre {department.code}-{n}",
                    status=Site.Status.PUBLISHED,
                    department=department,
                    latitude=46,
                    longitude=2,
                    grid_cell=0,
                    source="bench",
                )
                for department in departments
                for n in range(2)
            )
        ]
        series = []
        for band in AGE_BAND_LABELS:
            q(
                "INSERT INTO booking_series (reference, token_salt, person_id, person_key, "
                "contact_id, vaccine_id, site_id, status, version, override_reason, "
                "cancel_reason, dose1_elsewhere_declared_by, age_band, created_at, updated_at) "
                "VALUES (%s, 's', %s, 'bench', %s, %s, %s, 'completed', 1, '', '', '', %s, "
                "now(), now()) RETURNING id",
                [f"B{band}"[:9], person, contact, vaccine.pk, sites[0], band],
            )
            series.append(cursor.fetchone()[0])
        q(
            "INSERT INTO scheduling_session (site_id, vaccine_id, dose_number, date, start_time, "
            "end_time, lines, slot_minutes, doses_per_place, status, created_at) "
            "SELECT s, %s, 1 + (d %% 2), %s::date + d, '09:00', '11:00', 1, 120, 1, 'closed', "
            "now() FROM unnest(%s::int[]) s, generate_series(0, %s) d",
            [vaccine.pk, first, sites, args.days - 1],
        )
        q(
            "INSERT INTO scheduling_slot (session_id, site_id, vaccine_id, dose_number, date, "
            'start, "end", capacity, booked) SELECT id, site_id, vaccine_id, dose_number, date, '
            "date + time '09:00' - interval '1 hour', date + time '11:00' - interval '1 hour', "
            "%s, %s FROM scheduling_session WHERE vaccine_id = %s",
            [per_slot, per_slot, vaccine.pk],
        )
        # A throwaway database loaded by one statement a table: the foreign keys are
        # right by construction, their per-row checks would only double the load time.
        q("SET session_replication_role = replica")
        q(
            "INSERT INTO booking_appointment (series_id, person_id, slot_id, dose_number, "
            "status, created_at, updated_at) SELECT (%s::int[])[1 + (g + s.id) %% %s], %s, "
            "s.id, s.dose_number, 'fulfilled', s.start - (1 + g %% 9) * interval '1 day', "
            "s.start FROM scheduling_slot s, generate_series(1, s.capacity) g",
            [series, len(series), person],
        )
        user = get_user_model().objects.create(username="bench")
        q(
            "INSERT INTO care_administration (appointment_id, subject, vaccine_id, lot, "
            "lot_lent, given_at, given_by_id, recorded_at, from_status) SELECT a.id, '', "
            "s.vaccine_id, 'LOT', false, s.start + interval '5 minutes', %s, now(), 'arrived' "
            "FROM booking_appointment a JOIN scheduling_slot s ON s.id = a.slot_id",
            [user.pk],
        )
        q("SET session_replication_role = DEFAULT")
        q("ANALYZE")
        q("SELECT count(*) FROM care_administration")
        doses = cursor.fetchone()[0]
    print(
        f"  {doses:,} doses in {len(departments)} departments over {args.days} days, written in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )

    print(f"  load before the rebuild: {_load()}", flush=True)
    started = time.monotonic()
    rebuilt = stats_rebuild(first=first - dt.timedelta(days=10), last=today)
    rebuild = time.monotonic() - started
    print(
        f"  rebuild: {rebuilt.appointment_rows:,} appointment rows, "
        f"{rebuilt.vaccination_rows:,} vaccination rows in {rebuild:.1f} s",
        flush=True,
    )
    refreshes = []
    for n in range(5):
        started = time.monotonic()
        stats_refresh(day=first + dt.timedelta(days=args.days // 2 + n))
        refreshes.append(time.monotonic() - started)
    refresh_ms = statistics.median(refreshes) * 1000
    _plan_check(first + dt.timedelta(days=args.days // 2))

    # The recount: plain SQL, the same definitions, each day in its department's time.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (a.created_at AT TIME ZONE g.timezone)::date, si.department_id, "
            "count(*) FROM booking_appointment a JOIN scheduling_slot s ON s.id = a.slot_id "
            "JOIN sites_site si ON si.id = s.site_id JOIN geography_department g ON "
            "g.code = si.department_id GROUP BY 1, 2"
        )
        booked = {(day, dep): n for day, dep, n in cursor.fetchall()}
        cursor.execute(
            "SELECT (d.given_at AT TIME ZONE g.timezone)::date, si.department_id, "
            "count(*) FROM care_administration d JOIN booking_appointment a ON "
            "a.id = d.appointment_id JOIN scheduling_slot s ON s.id = a.slot_id JOIN "
            "sites_site si ON si.id = s.site_id JOIN geography_department g ON "
            "g.code = si.department_id GROUP BY 1, 2"
        )
        given = {(day, dep): n for day, dep, n in cursor.fetchall()}
    tabled_booked, tabled_given = {}, {}
    for row in AppointmentDay.objects.values("day", "department_id", "booked", "given"):
        key = (row["day"], row["department_id"])
        tabled_booked[key] = tabled_booked.get(key, 0) + row["booked"]
        tabled_given[key] = tabled_given.get(key, 0) + row["given"]
    tabled_booked = {k: v for k, v in tabled_booked.items() if v}
    tabled_given = {k: v for k, v in tabled_given.items() if v}
    cumulated = {
        row["department_id"]: row["cum_given"]
        for row in VaccinationDay.objects.filter(day=today - dt.timedelta(days=1)).values(
            "department_id", "cum_given"
        )
    }
    totals: dict[str, int] = {}
    for (_day, dep), n in given.items():
        totals[dep] = totals.get(dep, 0) + n
    found = [
        *sorted(set(booked.items()) ^ set(tabled_booked.items())),
        *sorted(set(given.items()) ^ set(tabled_given.items())),
        *[(dep, n, cumulated[dep]) for dep, n in totals.items() if cumulated.get(dep, n) != n],
    ]
    differences = len(found)
    for difference in found[:6]:
        print(f"  differs: {difference}")

    client = Client()
    timings = {}
    day = (today - dt.timedelta(days=5)).isoformat()
    for url in (
        "/statistiques/",
        "/donnees/vaccinations-departements.csv",
        "/donnees/rendez-vous-departements.csv",
        f"/donnees/vaccinations-departements/{day}.csv",
        "/donnees/lieux-vaccination.csv",
    ):
        started = time.perf_counter()
        client.get(url)  # the first request after a refresh renders, and fills the cache
        first_ms = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        times.sort()
        timings[url] = (
            statistics.median(times),
            times[min(len(times) - 1, int(0.99 * len(times)))],
        )
        print(
            f"  {url}: first {first_ms:.0f} ms, then median {timings[url][0]:.1f} ms, "
            f"p99 {timings[url][1]:.1f} ms",
            flush=True,
        )
    print(f"  load after: {_load()}")
    print(
        f"stats: rebuild {rebuild:.1f} s, day refresh {refresh_ms:.0f} ms, page median "
        f"{timings['/statistiques/'][0]:.0f} ms, {differences} differences from recount",
        flush=True,
    )
    if differences or not doses:
        sys.exit(f"FAILED: {differences} differences, {doses} doses")


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes): the others' work, measured too."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _plan_check(day: dt.date) -> None:
    """PostgreSQL's plan of one day's counting: every source read through an index, none
    of the big tables scanned whole (it fails loudly if one is)."""
    from django.db import connection, transaction

    from creneau.stats import counting
    from creneau.stats.services import PLANNER_SETTINGS, rebuild_params

    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in PLANNER_SETTINGS.items():
            cursor.execute(f"SET LOCAL {name} = '{value}'")
        cursor.execute("EXPLAIN " + counting.facts_sql(), rebuild_params(first=day, last=day))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    used = sorted({word for word in plan.split() if word.startswith("stats_")})
    print(f"  a day's plan reads through: {', '.join(used)}", flush=True)
    big = ("booking_appointment", "care_administration")
    whole = [table for table in big if f"Seq Scan on {table}" in plan]
    if whole:
        print(plan)
        sys.exit(f"FAILED: a day's refresh scans {', '.join(whole)} whole")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--doses", type=int, default=1_000_000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1_000 <= args.doses <= 50_000_000 or not 1 <= args.departments <= 101:
        parser.error("--doses from 1000 to 50000000, --departments from 1 to 101")
    if not 2 <= args.days <= 400 or not 1 <= args.requests <= 10_000:
        parser.error("--days from 2 to 400, --requests from 1 to 10000")
    if args.inner:
        _inner(args)
        return
    command = [sys.executable, __file__, "--inner", *sys.argv[1:]]
    subprocess.run([str(ROOT / "scripts/with-postgres.sh"), *command], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
