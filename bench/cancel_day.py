"""Cancelling a day of 1,000 appointments in one action (issue 5): how long it takes.

For each database (a fresh SQLite file, then a throwaway PostgreSQL started by
scripts/with-postgres.sh), in a temporary directory removed afterwards:

1. migrate, the geography of Paris, the vaccines;
2. one large centre ("vaccinodrome") with a first-dose day tomorrow, 08:00 to 20:00 in
   5-minute slots on 7 lines (1,008 places), and second-dose days six weeks later;
3. 1,000 people booked through the real services (hold, then booking), six per contact;
4. `cancellation_create` for that day, timed, `--runs` times (the bookings are made
   again before each run);
5. checks after each run: every course cancelled and told once with a rebooking link,
   no dose 2 left without its dose 1, every slot's `booked` equal to its active
   appointments and holds, the stock ledger equal to what open capacity promises, the
   read model equal to a recount.

Run from the project root: .venv/bin/python bench/cancel_day.py [--people 1000] [--runs 3]
[--sqlite-only]. The last line sums it up:

    cancel_day: 1000 appointments cancelled and told, median <S> s on SQLite, <P> s on PostgreSQL
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = "RESULT "


def one_database(people: int, runs: int) -> list[float]:
    """Runs in a process whose DATABASE_URL is set: builds, cancels, checks."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Q
    from django.utils import timezone

    from creneau.booking.models import Appointment, Cancellation, Contact, Series
    from creneau.booking.services import (
        PersonData,
        booking_confirm,
        cancellation_create,
        contact_get_or_create,
        hold_create,
    )
    from creneau.core.actor import Actor
    from creneau.geography.services import geography_load
    from creneau.outreach.models import Notification, notification_to_index
    from creneau.scheduling.models import Slot
    from creneau.scheduling.services import session_open
    from creneau.vaccines.models import Stock, Vaccine
    from creneau.vaccines.services import delivery_record, vaccines_seed
    from tests.checks import assert_read_model_equals_a_recount
    from tests.factories import make_site

    call_command("migrate", verbosity=0)
    geography_load(departments=["75"])
    vaccines_seed()
    from creneau.eligibility.services import eligibility_seed

    eligibility_seed()
    vaccine = Vaccine.objects.get(code="comirnaty")
    durations = []
    for run in range(runs):
        site = make_site(name=f"Vaccinodrome {run}", insee_code="75115")
        tomorrow = timezone.localdate() + timedelta(days=1)
        delivery_record(
            site=site,
            vaccine=vaccine,
            quantity=6000,
            expected_on=tomorrow,
            received_at=timezone.now(),
        )
        session = session_open(
            site=site,
            vaccine=vaccine,
            day=tomorrow,
            start_time=clock(8),
            end_time=clock(20),
            lines=7,
            slot_minutes=5,
        )
        for offset in (41, 42, 43):
            session_open(
                site=site,
                vaccine=vaccine,
                day=tomorrow + timedelta(days=offset),
                start_time=clock(8),
                end_time=clock(20),
                lines=7,
                slot_minutes=5,
                dose_number=2,
            )
        slots = list(session.slots.order_by("start").values_list("pk", flat=True))
        started = time.monotonic()
        for n in range(people):
            # Found by its blind index: the address is encrypted at rest.
            contact = contact_get_or_create(
                channel=Contact.Channel.SMS, address=f"+3361{run:02d}{n // 6:05d}"
            )
            hold = hold_create(slot_id=slots[n // 7]).hold
            booking_confirm(
                hold_id=hold.pk,
                contact=contact,
                person=PersonData(
                    given_name=f"Personne{n}",
                    family_name=f"Run{run}",
                    birth_date=tomorrow.replace(year=tomorrow.year - 80),
                ),
            )
        booking_seconds = time.monotonic() - started
        connection.queries_log.clear()
        started = time.monotonic()
        cancellation = cancellation_create(
            actor=Actor(user=None),
            site_id=site.pk,
            scope=Cancellation.Scope.DAY,
            day=tomorrow,
            reason="Panne électrique.",
        )
        durations.append(time.monotonic() - started)

        series = Series.objects.filter(site=site)
        assert cancellation.courses == people == series.filter(status="cancelled").count()
        assert cancellation.appointments == 2 * people
        told = Notification.objects.filter(
            kind="booking_cancelled",
            derived__has_key="rebook_url",
            # The run's numbers, by their blind indexes (the recipient is encrypted).
            to_index__in=[
                notification_to_index(f"+3361{run:02d}{n:05d}") for n in range(people // 6 + 1)
            ],
        )
        assert told.count() == people
        assert not Appointment.objects.filter(series__site=site, status="booked").exists()
        for slot in Slot.objects.filter(site=site).annotate(
            active=Count("appointments", filter=Q(appointments__status__in=["booked", "arrived"]))
        ):
            assert slot.booked == slot.active and slot.booked <= slot.capacity
        stock = Stock.objects.get(site=site, vaccine=vaccine)
        promised = sum(
            slot.capacity * slot.session.doses_per_place
            for slot in Slot.objects.select_related("session").filter(site=site)
        )
        assert stock.committed == promised and stock.committed + stock.given <= stock.delivered
        assert_read_model_equals_a_recount()
        print(
            f"  run {run + 1}: {people} booked in {booking_seconds:.1f} s; "
            f"cancelled and told in {durations[-1]:.2f} s; invariants checked",
            flush=True,
        )
    return durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        durations = one_database(args.people, args.runs)
        print(RESULT + " ".join(f"{d:.3f}" for d in durations), flush=True)
        return

    medians = {}
    command = [
        sys.executable,
        __file__,
        "--inner",
        f"--people={args.people}",
        f"--runs={args.runs}",
    ]
    with tempfile.TemporaryDirectory(prefix="creneau-cancel-") as tmp:
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
            durations = [float(x) for x in output.split(RESULT)[1].split()]
            medians[name] = statistics.median(durations)
            print(f"  median {medians[name]:.2f} s over {len(durations)} runs", flush=True)
    figures = ", ".join(f"median {seconds:.2f} s on {name}" for name, seconds in medians.items())
    print(f"cancel_day: {args.people} appointments cancelled and told, {figures}")


if __name__ == "__main__":
    main()
