"""Leftover doses offered to a large waiting list (issue 20, item 6), timed.

For each database (a fresh SQLite file, then a throwaway PostgreSQL started by
scripts/with-postgres.sh), in a temporary directory removed afterwards:

1. migrate, the geography of Île-de-France, the vaccines and the rules;
2. `--people` people (100,000) on the list over Île-de-France (written in bulk, their
   names and birth dates encrypted and their blind indexes computed as the service
   does; five people per contact), each within 5 to 30 km, Janssen or Comirnaty or both;
   on PostgreSQL the tables then ANALYZEd, as autovacuum would have them;
3. a centre in Paris 17e declares 12 leftover Janssen doses (`leftover_declare`, the
   real staff action): the first wave's offers are computed and written, timed, and
   `wave_candidates` alone is timed again (`--runs` times, median);
4. 500 clients (`--clients`) answer the 36 offers at the same moment (50 threads, each
   clicking 10 times: a link is clicked again and again), through `offer_accept`;
5. checks: exactly as many accepted as doses declared, no slot beyond its capacity, no
   declaration with more accepted than doses, every acceptance one active course;
6. `--subscriptions` alerts (200,000) over France, placed at communes drawn in proportion
   to their population (the shipped geography file), 1 to 50 km, a vaccine each, a tenth
   of them for a dose 2 after a dose 1 elsewhere (written in bulk, encrypted and indexed as
   the service does; two persons per contact); then a centre in Paris 15e opens one
   first-dose Comirnaty session (`session_open`): the matching of that change
   (`availability_opened` + `subscriptions_matching`, what the worker's pass reads) is
   timed `--runs` times (median), then the whole pass once (`alerts_run`: the claims and
   the messages written too).

Run from the project root: .venv/bin/python bench/waitlist.py [--people 100000]
[--clients 500] [--subscriptions 200000] [--sqlite-only]. One line per database sums it
up, PostgreSQL's last:

    waitlist: offers computed in <T> ms, <A> accepted of <N> doses, <O> overbooked; alerts:
    <K> subscriptions matched in <M> ms for one session opened (PostgreSQL)
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import time as datetime_time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = "RESULT "
IDF = ["75", "77", "78", "91", "92", "93", "94", "95"]
DOSES = 12
THREADS = 50


def contacts_bulk_create(*, prefix: str, count: int, now) -> list:
    """`count` verified SMS contacts (+33<prefix> then 7 digits), written in bulk with the
    address encrypted and its blind index computed as booking's service does: the people
    on the list and the alerts' subscribers."""
    from creneau.booking.addresses import contact_address_index, contact_address_normalize
    from creneau.booking.models import Contact

    contacts = Contact.objects.bulk_create(
        (
            Contact(
                channel=Contact.Channel.SMS,
                address=address,
                address_index=contact_address_index(address),
                verified_at=now,
            )
            for address in (
                contact_address_normalize(phone=f"+33{prefix}{n:07d}", email=None)[1]
                for n in range(count)
            )
        ),
        batch_size=2000,
    )
    if contacts[0].pk is None:  # a backend that does not return ids: the last rows written
        contacts = list(Contact.objects.order_by("-pk")[:count])[::-1]
    return contacts


def person_fields(rng: random.Random, *, given_name: str, family_name: str, ages, today) -> dict:
    """A person's names, a birth date of an age drawn from `ages` (the first of a month) and
    its blind index, as the services write them (booking.persons.person_index)."""
    from creneau.booking.persons import person_index

    birth_date = today.replace(year=today.year - rng.randint(*ages), day=1)
    return {
        "given_name": given_name,
        "family_name": family_name,
        "birth_date": birth_date,
        "person_key": person_index(
            given_name=given_name, family_name=family_name, birth_date=birth_date
        ),
    }


def one_database(people: int, clients: int, runs: int, subscriptions: int) -> dict:
    """Runs in a process whose DATABASE_URL is set: builds, declares, accepts, checks."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.db.models import F
    from django.utils import timezone

    from creneau.booking.models import Series
    from creneau.core.actor import Actor
    from creneau.core.errors import DomainError
    from creneau.core.geo import Position, grid_cell
    from creneau.eligibility.services import eligibility_seed
    from creneau.geography.models import Commune
    from creneau.geography.services import geography_load
    from creneau.scheduling.models import Slot
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import delivery_record, vaccines_seed
    from creneau.waitlist.models import Leftover, Offer, WaitlistEntry
    from creneau.waitlist.selectors import wave_candidates
    from creneau.waitlist.services import WAVE_FACTOR, leftover_declare, offer_accept
    from tests.factories import make_site

    call_command("migrate", verbosity=0)
    geography_load(departments=IDF)
    vaccines_seed()
    eligibility_seed()
    janssen, comirnaty = Vaccine.objects.get(code="janssen"), Vaccine.objects.get(code="comirnaty")
    rng = random.Random(20)
    towns = list(Commune.objects.values_list("latitude", "longitude"))
    # A quarter to five in the afternoon, today: the doses are offered until 19:00.
    now = timezone.localtime().replace(hour=16, minute=45, second=0, microsecond=0)
    started = time.monotonic()
    contacts = contacts_bulk_create(prefix="61", count=people // 5 + 1, now=now)
    entries = []
    for n in range(people):
        latitude, longitude = rng.choice(towns)
        position = Position(
            latitude + rng.uniform(-0.01, 0.01), longitude + rng.uniform(-0.01, 0.01)
        )
        who = person_fields(
            rng, given_name=f"Personne{n}", family_name="Attente", ages=(20, 95), today=now.date()
        )
        entries.append(
            WaitlistEntry(
                contact=contacts[n // 5],
                **who,
                birth_year=who["birth_date"].year,
                categories=[],
                place_label="Île-de-France",
                latitude=position.latitude,
                longitude=position.longitude,
                grid_cell=grid_cell(position),
                radius_km=rng.choice((5, 10, 20, 30)),
                windows=[{"days": list(range(7)), "start": "08:00", "end": "21:00"}],
                notice_minutes=rng.choice((30, 120)),
                joined_at=now - timedelta(minutes=rng.randint(0, 40000)),
                expires_at=now + timedelta(days=30),
            )
        )
    entries = WaitlistEntry.objects.bulk_create(entries, batch_size=2000)
    if entries[0].pk is None:
        entries = list(WaitlistEntry.objects.order_by("pk"))
    through = WaitlistEntry.vaccines.through
    through.objects.bulk_create(
        (
            through(waitlistentry_id=entry.pk, vaccine_id=vaccine.pk)
            for entry in entries
            for vaccine in rng.choice(((janssen,), (comirnaty,), (janssen, comirnaty)))
        ),
        batch_size=5000,
    )
    if connections["default"].vendor == "postgresql":
        # The statistics autovacuum keeps after so many rows written: the planner's view
        # of a list that has been filling for weeks.
        with connections["default"].cursor() as cursor:
            cursor.execute("ANALYZE")
    built = time.monotonic() - started
    print(f"  {people} people on the list, {len(contacts)} contacts, in {built:.0f} s", flush=True)

    site = make_site(name="Centre Paris 17e", insee_code="75117")
    delivery_record(
        site=site, vaccine=janssen, quantity=100, expected_on=now.date(), lot="XD955",
        received_at=now,
    )  # fmt: skip
    started = time.monotonic()
    leftover = leftover_declare(
        actor=Actor(user=None),
        site=site,
        vaccine=janssen,
        lot="XD955",
        doses=DOSES,
        until=now.replace(hour=19, minute=0),
        now=now,
    )
    declared_ms = (time.monotonic() - started) * 1000
    offers = list(leftover.offers.values_list("pk", flat=True))
    assert len(offers) == WAVE_FACTOR * DOSES, len(offers)
    # The selection alone, again (no offer written), as the next wave would compute it.
    Offer.objects.filter(leftover=leftover).update(status=Offer.Status.EXPIRED)
    timings = []
    for _ in range(runs):
        started = time.monotonic()
        wave_candidates(leftover=leftover, now=now, limit=WAVE_FACTOR * DOSES)
        timings.append((time.monotonic() - started) * 1000)
    Offer.objects.filter(leftover=leftover).update(status=Offer.Status.OFFERED)
    print(
        f"  declared with its first wave of {len(offers)} offers in {declared_ms:.0f} ms; "
        f"the wave's selection alone: median {statistics.median(timings):.0f} ms",
        flush=True,
    )

    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    moment = now + timedelta(minutes=2)

    def client(index: int) -> None:
        barrier.wait()
        try:
            for click in range(clients // THREADS):
                offer = offers[(index * (clients // THREADS) + click) % len(offers)]
                try:
                    answer = offer_accept(offer_id=offer, now=moment)
                    outcome = "accepted" if answer.accepted else "gone"
                except DomainError as error:
                    outcome = type(error).__name__
                with lock:
                    outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered_s = time.monotonic() - started
    accepted = outcomes.count("accepted")
    leftover = Leftover.objects.get(pk=leftover.pk)
    overbooked = Slot.objects.filter(booked__gt=F("capacity")).count() + max(
        0, leftover.accepted - leftover.doses
    )
    assert accepted == leftover.accepted == Series.objects.filter(status="active").count()
    print(
        f"  {len(outcomes)} clicks in {answered_s:.1f} s: "
        + ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes))),
        flush=True,
    )
    return {
        "offers_ms": statistics.median(timings),
        "declared_ms": declared_ms,
        "accepted": accepted,
        "doses": DOSES,
        "overbooked": overbooked,
        **alerts(subscriptions, runs),
    }


def alerts(count: int, runs: int) -> dict:
    """Item 6's alerts: `count` subscriptions over France, one session opened in Paris."""
    from django.db import connection
    from django.utils import timezone

    from creneau.alerts.models import AlertContact, AlertScan, Subscription
    from creneau.alerts.selectors import subscriptions_matching
    from creneau.alerts.services import SCAN, SCAN_LAG, alerts_run
    from creneau.geography.services import GEOGRAPHY_FILE, _read
    from creneau.scheduling.selectors import availability_opened
    from creneau.scheduling.services import session_open
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import delivery_record
    from tests.factories import make_site

    rng = random.Random(3)
    now = timezone.now()
    towns = [
        (lat, lon, population)
        for _, _, _, population, lat, lon, _ in _read(GEOGRAPHY_FILE)["communes"]
    ]
    positions = rng.choices(towns, weights=[population for *_, population in towns], k=count)
    vaccines = list(Vaccine.objects.filter(active=True))
    two_doses = [vaccine for vaccine in vaccines if vaccine.doses_in_series > 1]
    started = time.monotonic()
    contacts = contacts_bulk_create(prefix="62", count=count // 2 + 1, now=now)
    AlertContact.objects.bulk_create((AlertContact(contact=c) for c in contacts), batch_size=5000)
    rows = []
    today = now.date()
    for n, (latitude, longitude, _) in enumerate(positions):
        who = person_fields(
            rng, given_name=f"Alerte{n}", family_name="Bench", ages=(18, 90), today=today
        )
        dose2 = rng.random() < 0.1
        vaccine = rng.choice(two_doses if dose2 else vaccines)
        dose1_on = today - timedelta(days=rng.randint(1, 20)) if dose2 else None
        rows.append(
            Subscription(
                contact=contacts[n // 2],
                **who,
                place_label="France",
                latitude=latitude + rng.uniform(-0.01, 0.01),
                longitude=longitude + rng.uniform(-0.01, 0.01),
                radius_km=rng.choice((1, 5, 10, 20, 30, 50)),
                vaccine=vaccine,
                dose_number=2 if dose2 else 1,
                dose1_on=dose1_on,
                window_from=dose1_on + timedelta(days=vaccine.interval_min_days) if dose2 else None,
                window_to=dose1_on + timedelta(days=vaccine.interval_max_days) if dose2 else None,
                created_at=now,
                expires_at=now + timedelta(days=30),
            )
        )
    Subscription.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        # What autovacuum does after such a load (PostgreSQL: statistics and the visibility
        # map that lets `alert_box` answer alone); SQLite: statistics.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    print(
        f"  {count} alert subscriptions over France, {len(contacts)} contacts, in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )

    comirnaty = Vaccine.objects.get(code="comirnaty")
    site = make_site(name="Centre Paris 15e", insee_code="75115")
    delivery_record(
        site=site, vaccine=comirnaty, quantity=400, expected_on=today, lot="FA1234", received_at=now
    )
    before = timezone.now()
    # The worker's pass reads from here (the leftover session above is not this change).
    AlertScan.objects.update_or_create(pk=SCAN, defaults={"scanned_to": before + SCAN_LAG})
    session_open(
        site=site,
        vaccine=comirnaty,
        day=today + timedelta(days=1),
        start_time=datetime_time(9, 0),
        end_time=datetime_time(12, 0),
        lines=2,
    )
    timings, matched = [], set()
    for _ in range(runs):
        started = time.monotonic()
        matches = subscriptions_matching(
            opened=availability_opened(since=before), now=timezone.now()
        )
        timings.append((time.monotonic() - started) * 1000)
        matched = {match.subscription_id for match in matches}
    if not matched:
        raise SystemExit("alerts: the session opened matched no subscription: nothing measured")
    started = time.monotonic()
    report = alerts_run()
    run_ms = (time.monotonic() - started) * 1000
    print(
        f"  one session opened in Paris 15e: {len(matched)} subscriptions matched, median "
        f"{statistics.median(timings):.0f} ms (runs: {', '.join(f'{t:.0f}' for t in timings)}); "
        f"the worker's whole pass {run_ms:.0f} ms ({report.sent} messages written)",
        flush=True,
    )
    return {
        "alerts_matched": len(matched),
        "alerts_ms": statistics.median(timings),
        "alerts_run_ms": run_ms,
        "alerts_sent": report.sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        figures = one_database(args.people, args.clients, args.runs, args.subscriptions)
        print(RESULT + json.dumps(figures), flush=True)
        return

    results = {}
    command = [
        sys.executable,
        __file__,
        "--inner",
        f"--people={args.people}",
        f"--clients={args.clients}",
        f"--runs={args.runs}",
        f"--subscriptions={args.subscriptions}",
    ]
    with tempfile.TemporaryDirectory(prefix="creneau-waitlist-") as tmp:
        backends = [("SQLite", {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"}, command)]
        if not args.sqlite_only:
            backends.append(("PostgreSQL", {}, [str(ROOT / "scripts/with-postgres.sh"), *command]))
        for name, env, argv in backends:
            print(f"{name}:", flush=True)
            output = subprocess.run(
                argv,
                env={**os.environ, **env},
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print("\n".join(line for line in output.splitlines() if not line.startswith(RESULT)))
            results[name] = json.loads(output.split(RESULT)[1])
    for name, r in results.items():
        print(
            f"waitlist: offers computed in {r['offers_ms']:.0f} ms, {r['accepted']} accepted of "
            f"{r['doses']} doses, {r['overbooked']} overbooked; alerts: {r['alerts_matched']} "
            f"subscriptions matched in {r['alerts_ms']:.0f} ms for one session opened ({name})"
        )


if __name__ == "__main__":
    main()
