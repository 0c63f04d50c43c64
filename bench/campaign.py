"""An invitation campaign at scale (issue 17, item 8): a population imported, a campaign
enqueued paced to the places open, and its SMS sent through a throttled provider by
several workers, one of them killed with SIGKILL mid-run.

In a throwaway PostgreSQL (scripts/with-postgres.sh, as bench/stats.py), or SQLite with
`--sqlite`:

1. `--people` people generated (French names, addresses at the postcodes of the
   official geography over every department, weighted by each department's population;
   phones written the ways people write them, some landlines, some with an e-mail, some
   with neither; a few rows deliberately bad) into a CSV file, imported by the real
   import (`manage.py population_import`, in a process of its own with its checking
   processes, one per core by default: its peak memory is theirs summed).
2. In the 10 most populous departments, one site each, with first-dose sessions over the
   next 13 days opened by the real services (`--places` places a department), and a
   campaign for the over-75s of those departments, SMS only (a letter for whoever has
   no mobile), sent every day at every hour. Its waves (`campaign_wave_send`) are
   enqueued until none is due: they must stop at the free places (or at the people,
   when fewer).
3. A fake SMS provider on 127.0.0.1 (an HTTP server in this process, bench/sending.py)
   takes at most `--rate` messages a second (a request beyond waits its turn), counts
   every request and keeps each `Idempotency-Key` once. `--workers` `manage.py worker`
   processes send the outbox, at the provider's rate (OUTBOX_RATE_SMS); when half of the
   SMS have arrived, the first worker is killed with SIGKILL and started again. The
   messages of its last claim are taken again by another worker after the outbox's
   claim timeout (5 minutes), under the same keys: one it had handed over is counted
   once. Where the provider stood idle is printed (bench/sending.py).
4. Checks, once the outbox has recorded every SMS as sent: every SMS invitation reached
   the provider under its key, exactly once; no invitation reached it twice under two
   keys (a duplicate); none is missing. Any failed check, or nothing measured, ends
   with an error.

Run from the project root: .venv/bin/python bench/campaign.py [--people 1000000]
[--rate 100] [--places N] [--workers 4] [--import-processes N] [--sqlite]. The last line sums it up:

    campaign: <I> rows imported/s, <E> invitations enqueued/s, <S> sent/s of a provider
    limit <L>/s, peak <M> MiB, <D> duplicates
"""

import argparse
import csv
import datetime as dt
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from sending import child_wait, workers_send  # noqa: E402

DEPARTMENTS = 10
# One row in this many is deliberately bad (a postcode that is not the town's, a date
# that does not exist): the import rejects it and goes on.
BAD_ONE_IN = 1000

GIVEN_NAMES = [
    "Jeanne", "Marie", "Monique", "Françoise", "Jacqueline", "Simone", "Odette", "Colette",
    "Jean", "Pierre", "Michel", "André", "Bernard", "Jacques", "René", "Marcel", "Louise",
    "Geneviève", "Hélène", "Madeleine", "Yvette", "Paulette", "Suzanne", "Denise", "Gérard",
    "Roger", "Claude", "Christian", "Daniel", "Alain", "Henri", "Lucien", "Raymond", "Éric",
    "Nathalie", "Isabelle", "Sylvie", "Catherine", "Christophe", "Philippe", "Léa", "Chloé",
]  # fmt: skip
FAMILY_NAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
    "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre",
    "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Le Gall", "Nguyen",
    "Lemaire", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine",
    "Chevalier", "Robin", "Masson", "Sanchez", "Boyer", "Denis", "Meunier", "Blanchard",
]  # fmt: skip
STREETS = [
    "rue de la République", "rue Victor-Hugo", "avenue Jean-Jaurès", "rue Pasteur",
    "place de l'Église", "rue du Moulin", "chemin des Vignes", "allée des Tilleuls",
    "boulevard Gambetta", "rue de la Gare", "impasse des Lilas", "route de Paris",
    "rue Jules-Ferry", "rue des Écoles", "avenue de la Libération", "quai de la Loire",
]  # fmt: skip
COMPLEMENTS = ["", "", "", "", "Bâtiment B", "Résidence les Chênes", "Appartement 12", "Lieu-dit"]


# The population ------------------------------------------------------------------------


def phone_written(number: int, rng: random.Random) -> str:
    """A mobile (unique to the row: 061 and seven digits) written one of the ways people
    write it, or, one row in eight, a landline (kept out: no SMS reaches it)."""
    if rng.random() < 0.125:
        return f"01 4{rng.randint(0, 9)} {rng.randint(10, 99)} {rng.randint(10, 99)} 00"
    digits = f"61{number:07d}"  # 9 digits after the 0
    pairs = " ".join(digits[i : i + 2] for i in range(1, 9, 2))
    return rng.choice(
        [
            f"0{digits}",
            f"06 {pairs}",
            f"+33{digits}",
            f"+33 6 {pairs}",
            "06." + pairs.replace(" ", "."),
        ]
    )


def population_write(*, path: Path, people: int, seed: int, targets: set[str], born_to: dt.date):
    """The extract, and what it holds: rows, bad rows, and per target department the
    over-75s with a mobile (SMS) and without (letter)."""
    from creneau.campaigns.population import COLUMNS
    from creneau.geography.models import Department, PostalCode

    rng = random.Random(seed)
    towns: dict[str, list[tuple[str, str]]] = {}
    for code, name, department in PostalCode.objects.values_list(
        "code", "commune__name", "commune__department_id"
    ).order_by("code", "commune_id"):
        towns.setdefault(department, []).append((code, name))
    weights = dict(Department.objects.filter(population__gt=0).values_list("code", "population"))
    codes = sorted(code for code in towns if weights.get(code))
    cumulative = []
    total = 0
    for code in codes:
        total += weights[code]
        cumulative.append(total)
    sms = dict.fromkeys(targets, 0)
    letters = dict.fromkeys(targets, 0)
    bad = 0
    first_born = dt.date(1922, 1, 1)
    span = (dt.date(2008, 12, 31) - first_born).days
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(COLUMNS)
        for number in range(people):
            department = rng.choices(codes, cum_weights=cumulative)[0]
            postcode, town = rng.choice(towns[department])
            born = first_born + dt.timedelta(days=rng.randint(0, span))
            phone = phone_written(number, rng) if rng.random() < 0.85 else ""
            email = f"p{number}@example.org" if rng.random() < 0.3 else ""
            birth = born.isoformat() if number % 2 else born.strftime("%d/%m/%Y")
            if number % BAD_ONE_IN == BAD_ONE_IN - 1:
                bad += 1
                # Alternately a postcode that is not the town's and a 31 February.
                if number % (2 * BAD_ONE_IN) == BAD_ONE_IN - 1:
                    postcode = "00000"
                else:
                    birth = f"31/02/{born.year}"
            elif department in targets and born <= born_to:
                mobile = phone.startswith(("06", "+33"))
                if mobile:
                    sms[department] += 1
                else:
                    letters[department] += 1
            writer.writerow(
                [
                    f"{number:013d}",
                    rng.choice(FAMILY_NAMES),
                    f"{rng.choice(GIVEN_NAMES)} {rng.choice(GIVEN_NAMES)}",
                    birth,
                    f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
                    rng.choice(COMPLEMENTS),
                    postcode,
                    town,
                    phone,
                    email,
                    "caregiver" if rng.random() < 0.02 else "",
                ]
            )
    return bad, sms, letters


# The places ----------------------------------------------------------------------------


def places_open(*, departments: list[str], places: int) -> dict[str, int]:
    """One published site a department (at its most populous commune), a delivery, and
    single-dose sessions on each of the next 13 days opened by the real services, about
    `places` first-dose places in all: the free places the campaign is paced to."""
    from django.utils import timezone

    from creneau.core.geo import Position, grid_cell
    from creneau.geography.models import Commune
    from creneau.scheduling.services import sessions_open_weekly
    from creneau.sites.models import Site
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import delivery_record

    vaccine = Vaccine.objects.get(code="janssen")
    days = 13
    lines = max(1, math.ceil(places / (days * 40)))
    slots = max(1, math.ceil(places / (days * lines)))
    start = dt.time(8, 0)
    end = (dt.datetime.combine(dt.date.today(), start) + dt.timedelta(minutes=15 * slots)).time()
    first = timezone.localdate() + dt.timedelta(days=1)
    opened = {}
    for code in departments:
        commune = Commune.objects.filter(department_id=code).order_by("-population").first()
        site = Site.objects.create(
            name=f"Centre de vaccination de {commune.name}",
            status=Site.Status.PUBLISHED,
            commune=commune,
            department_id=code,
            postcode=commune.postal_codes.values_list("code", flat=True).first() or "",
            latitude=commune.latitude,
            longitude=commune.longitude,
            grid_cell=grid_cell(Position(commune.latitude, commune.longitude)),
        )
        delivery_record(
            site=site,
            vaccine=vaccine,
            quantity=days * slots * lines,
            expected_on=first,
            lot="BENCH1",
            received_at=timezone.now(),
        )
        sessions = sessions_open_weekly(
            site=site,
            vaccine=vaccine,
            date_from=first,
            date_to=first + dt.timedelta(days=days - 1),
            weekdays=set(range(7)),
            start_time=start,
            end_time=end,
            lines=lines,
            slot_minutes=15,
        )
        opened[code] = len(sessions) * slots * lines
    return opened


# Processes -----------------------------------------------------------------------------


def tree_resident_mib(pid: int) -> float:
    """The resident memory of a process and of all its descendants, summed (pages
    shared after a fork counted in each: an upper bound)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        pending.extend(int(child) for child in children)
    return total / 1024


class TreePeak:
    """The largest tree_resident_mib of a process while it runs, sampled every 0.1 s:
    an import that checks its rows in several processes is judged on all of them."""

    def __init__(self, pid: int) -> None:
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def _sample(self, pid: int) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, tree_resident_mib(pid))

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak


def _inner(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    # Sent whatever the hour the benchmark runs at; rates as the provider imposes.
    os.environ["OUTBOX_QUIET_HOURS"] = ""
    os.environ["OUTBOX_RATE_SMS"] = str(args.rate)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from creneau.campaigns.models import Campaign, Invitation
    from creneau.campaigns.selectors import free_places_ahead
    from creneau.campaigns.services import (
        CampaignData,
        campaign_create,
        campaign_status_change,
        campaign_wave_send,
    )
    from creneau.core.actor import Actor
    from creneau.eligibility.services import eligibility_seed
    from creneau.geography.models import Department
    from creneau.geography.services import geography_load
    from creneau.outreach.models import Notification
    from creneau.vaccines.services import vaccines_seed

    print(f"database: {connection.vendor}; load {Path('/proc/loadavg').read_text().strip()}")
    call_command("migrate", verbosity=0)
    geography_load()
    vaccines_seed()
    eligibility_seed()
    targets = list(
        Department.objects.filter(population__gt=0)
        .order_by("-population")
        .values_list("code", flat=True)[:DEPARTMENTS]
    )
    today = timezone.localdate()
    born_to = today.replace(year=today.year - 75)
    work = Path(tempfile.mkdtemp(prefix="creneau-campaign-"))
    csv_path = work / "population.csv"
    started = time.monotonic()
    bad, sms, letters = population_write(
        path=csv_path, people=args.people, seed=17, targets=set(targets), born_to=born_to
    )
    print(
        f"generated {args.people:,} people ({bad} bad rows) in {time.monotonic() - started:.0f} s: "
        f"{csv_path.stat().st_size / 2**20:.0f} MiB"
    )
    connection.close()

    # 1. The import, by the real command in a process of its own.
    env = {**os.environ}
    manage = [sys.executable, str(ROOT / "manage.py")]
    started = time.monotonic()
    importer = subprocess.Popen(
        [*manage, "population_import", str(csv_path), "--processes", str(args.import_processes)],
        cwd=ROOT,
        # Without DEBUG, as in production: Django's debug cursor formats and keeps the
        # text of every statement (a batch's lookup of a thousand keys is some 70 KB).
        # CRENEAU_DEMO gives it the keys DEBUG would (the same generated file).
        env={**env, "DEBUG": "0", "CRENEAU_DEMO": "1"},
        stdout=subprocess.PIPE,
    )
    tree = TreePeak(importer.pid)
    said = importer.stdout.read().decode()
    # The children's CPU is in the importer's rusage: it waits for them.
    status, import_largest, import_cpu = child_wait(importer)
    import_seconds = time.monotonic() - started
    import_peak = max(tree.stop(), import_largest)
    csv_path.unlink()  # a million people is some 100 MiB; the workers' logs stay
    print(said.strip().splitlines()[0] if said.strip() else "(the import said nothing)")
    if status != 0:
        raise SystemExit(f"FAILED: the import exited with {status}")
    from creneau.campaigns.models import PopulationImport

    report = PopulationImport.objects.order_by("-id").first()
    if report is None or report.created != args.people - bad or report.rejected != bad:
        raise SystemExit(
            f"FAILED: expected {args.people - bad} created and {bad} rejected, got "
            f"{report and report.created} and {report and report.rejected}"
        )
    imported = args.people / import_seconds
    print(
        f"import ({args.import_processes} checking processes): {import_seconds:.1f} s wall, "
        f"{import_cpu:.1f} s CPU ({args.people / import_cpu:,.0f} rows per CPU second, "
        f"PostgreSQL's own not counted), peak {import_peak:.0f} MiB (all its processes' "
        f"resident memory summed; the largest one {import_largest:.0f} MiB); load "
        f"{Path('/proc/loadavg').read_text().strip()}"
    )

    # 2. The places, the campaign, its waves.
    places = args.places or max(50, args.people // 500)
    opened = places_open(departments=targets, places=places)
    now = timezone.now()
    free = free_places_ahead(departments=targets, now=now)
    if free != opened:
        raise SystemExit(f"FAILED: places opened {opened}, free places read {free}")
    system = Actor(user=None)
    campaign = campaign_create(
        actor=system,
        data=CampaignData(
            name="Plus de 75 ans (benchmark)",
            departments=tuple(targets),
            born_to=born_to,
            channels=("sms",),
            message_fr="Vous avez 75 ans ou plus : prenez rendez-vous.",
            send_days=tuple(range(7)),
            send_from=dt.time(0, 0),
            send_until=dt.time(23, 59),
        ),
        allowed=None,
    )
    campaign_status_change(actor=system, campaign_id=campaign.pk, action="start")
    started = time.monotonic()
    enqueued = 0
    while count := campaign_wave_send(campaign_id=campaign.pk):
        enqueued += count
    enqueue_seconds = time.monotonic() - started
    expected = {code: min(free[code], sms[code] + letters[code]) for code in targets}
    counted = dict.fromkeys(targets, 0)
    for code in Invitation.objects.filter(campaign=campaign).values_list(
        "department_id", flat=True
    ):
        counted[code] += 1
    over_75 = sum(sms.values()) + sum(letters.values())
    print(f"places free: {sum(free.values()):,}; over-75s: {over_75:,}")
    if counted != expected or enqueued != sum(expected.values()):
        raise SystemExit(f"FAILED: invitations per department {counted}, expected {expected}")
    if not enqueued:
        raise SystemExit("FAILED: no invitation enqueued: nothing to measure")
    by_channel = dict(
        Invitation.objects.filter(campaign=campaign)
        .values_list("channel")
        .annotate(n=Count("pk"))
        .values_list("channel", "n")
    )
    sms_keys = {
        str(pk)
        for pk in Notification.objects.filter(
            kind=Notification.Kind.INVITATION, channel="sms"
        ).values_list("pk", flat=True)
    }
    print(
        f"enqueued {enqueued:,} invitations in {enqueue_seconds:.1f} s ({by_channel}); "
        f"{len(sms_keys):,} SMS to send"
    )
    if not sms_keys:
        raise SystemExit("FAILED: no SMS to send: nothing to measure")
    connection.close()

    # 3. The provider and the workers (bench/sending.py).
    unsent = Notification.objects.filter(
        kind=Notification.Kind.INVITATION, channel="sms", status__in=["pending", "sending"]
    )
    sending = workers_send(
        manage=manage,
        cwd=ROOT,
        env=env,
        keys=sms_keys,
        rate=args.rate,
        workers=args.workers,
        unsent=unsent.exists,
        logs=work,
    )

    # 4. Checks.
    statuses = dict(
        Notification.objects.filter(kind=Notification.Kind.INVITATION, channel="sms")
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    print(sending.idle)
    print(
        f"provider: {sending.requests:,} requests, {len(sending.received):,} keys, "
        f"{sending.redelivered} redelivered under the same key, {sending.after_timeout} after "
        f"the claim timeout (workers' logs in {work}); outbox statuses {statuses}; the "
        f"workers' CPU {1000 * sending.cpu / max(1, len(sending.received)):.0f} ms a message "
        "(their jobs included)"
    )
    failures = sending.failures()
    campaign_status = Campaign.objects.get(pk=campaign.pk).status
    print(
        f"campaign: {imported:,.0f} rows imported/s, {enqueued / enqueue_seconds:,.0f} "
        f"invitations enqueued/s, {sending.sent_rate:,.1f} sent/s of a provider limit "
        f"{args.rate:g}/s, peak {max(import_peak, *sending.peaks):.0f} MiB, "
        f"{sending.duplicates} duplicates",
        flush=True,
    )
    if failures or campaign_status != Campaign.Status.RUNNING:
        raise SystemExit("FAILED: " + "; ".join(failures or [f"campaign {campaign_status}"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0, help="the provider's limit, SMS/s")
    parser.add_argument(
        "--places", type=int, default=0, help="first-dose places a department (people / 500)"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--import-processes",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="the import's checking processes (population_import --processes): one per core",
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1_000 <= args.people <= 10_000_000 or not 1 <= args.rate <= 10_000:
        parser.error("--people from 1000 to 10000000, --rate from 1 to 10000")
    if not 1 <= args.workers <= 32 or not 0 <= args.places <= 1_000_000:
        parser.error("--workers from 1 to 32, --places from 0 to 1000000")
    if not 1 <= args.import_processes <= 64:
        parser.error("--import-processes from 1 to 64")
    if args.inner:
        _inner(args)
        return
    command = [sys.executable, __file__, "--inner", *sys.argv[1:]]
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="creneau-campaign-db-") as directory:
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{directory}/bench.sqlite3"}
            subprocess.run(command, cwd=ROOT, env=env, check=True)
        return
    subprocess.run([str(ROOT / "scripts/with-postgres.sh"), *command], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
