"""SMART Scheduling Links out and in (issue 19, item 5): publishing, serving, importing, and
what two imported platforms cost the search.

Starts everything by itself in a temporary directory and removes it at the end:

1. a fresh SQLite file, `migrate`, all of France's geography, the vaccines, the 2021
   snapshot of the official sites file (1,340 published sites), then eight weeks of
   sessions for every published site, 14 ten-minute slots a day on 2 lines (about a
   million slots), and their read model rows, bulk-inserted;
2. `smart_publish` in a process of its own: wall time and the process's peak memory;
   again, with nothing changed (nothing rewritten);
3. gunicorn (2 sync workers) serving /smart/, and 64 client threads asking for the
   manifest and Paris's Slot file, half of them with the ETag they got (304s);
4. a generated external feed (5,000 locations near French towns, none matching ours,
   500,000 free slots over eight weeks) served by `python -m http.server` on 127.0.0.1,
   registered as two platforms; `feed_import` of the first in a process of its own: wall
   time, slots per second, peak memory; the second imported, both confirmed;
5. the search API in process (`GET /api/v1/sites?near=…`, 20 places, answers not cached),
   each request made twice in turn, the platforms hidden (inactive) then shown: the
   slowdown of the median answer.

Run from the project root: .venv/bin/python bench/interop.py [--days 56] [--locations 5000]
[--slots 500000] [--seconds 10]. The last line sums it up:

    interop: publish <P> s, serve <S> req/s, import <I> slots/s, peak <M> MiB,
    search slowdown <X>%

Goals: publish < 30 s, import >= 50,000 slots/s, peak < 400 MiB, slowdown < 10 %.
"""

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from machine import free_port

ROOT = Path(__file__).resolve().parent.parent
SEED = 2021
RESULT = "RESULT "
SLOTS_PER_DAY = 14
QUERIES = [
    *["75017", "75011", "13001", "69003", "33000", "59000", "31000", "44000", "67000", "06000"],
    *["35000", "21000", "34000", "76000", "45000", "87000", "63000", "29200", "54000", "80000"],
]


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    import django

    django.setup()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_seed(days: int) -> None:
    _django()
    from datetime import time as clock

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from creneau.geography.services import geography_load
    from creneau.scheduling.models import DayAvailability, Session, Slot
    from creneau.sites.models import Site
    from creneau.sites.services import sites_import_official
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import vaccines_seed

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    geography_load()
    vaccines_seed()
    sites_import_official(path=ROOT / "creneau/sites/data/centres-vaccination_2021-11-18.csv.gz")
    vaccine = Vaccine.objects.get(code="janssen")  # one dose: no dose-2 sessions needed
    today = timezone.localdate()
    sites = list(Site.objects.filter(status=Site.Status.PUBLISHED).values_list("id", flat=True))
    with transaction.atomic():
        for offset in range(1, days + 1):
            day = today + timedelta(days=offset)
            sessions = Session.objects.bulk_create(
                [
                    Session(
                        site_id=site_id,
                        vaccine=vaccine,
                        dose_number=1,
                        date=day,
                        start_time=clock(9),
                        end_time=clock(9 + SLOTS_PER_DAY * 10 // 60, SLOTS_PER_DAY * 10 % 60),
                        lines=2,
                        slot_minutes=10,
                        doses_per_place=1,
                    )
                    for site_id in sites
                ],
                batch_size=1000,
            )
            opening = timezone.make_aware(timezone.datetime.combine(day, clock(9)))
            Slot.objects.bulk_create(
                [
                    Slot(
                        session=session,
                        site_id=session.site_id,
                        vaccine=vaccine,
                        dose_number=1,
                        date=day,
                        start=opening + timedelta(minutes=10 * n),
                        end=opening + timedelta(minutes=10 * (n + 1)),
                        capacity=2,
                    )
                    for session in sessions
                    for n in range(SLOTS_PER_DAY)
                ],
                batch_size=5000,
            )
            DayAvailability.objects.bulk_create(
                [
                    DayAvailability(
                        site_id=site_id,
                        vaccine=vaccine,
                        dose_number=1,
                        date=day,
                        free=2 * SLOTS_PER_DAY,
                        first_free_start=opening,
                        last_free_start=opening + timedelta(minutes=10 * (SLOTS_PER_DAY - 1)),
                    )
                    for site_id in sites
                ],
                batch_size=1000,
            )
    print(
        f"  seeded {len(sites)} published sites, {Slot.objects.count()} slots "
        f"in {time.monotonic() - started:.0f} s",
        flush=True,
    )


def step_publish() -> None:
    _django()
    from creneau.interop.publish import smart_publish

    started = time.monotonic()
    report = smart_publish()
    first = time.monotonic() - started
    started = time.monotonic()
    again = smart_publish()
    second = time.monotonic() - started
    print(
        f"  published {report.sites} sites, {report.slots} slots, {len(report.written)} files "
        f"in {first:.1f} s; again unchanged in {second:.1f} s ({len(again.written)} rewritten)",
        flush=True,
    )
    print(RESULT + json.dumps({"publish": first, "peak": _peak_mib()}), flush=True)


def step_feed(directory: Path, base: str, locations: int, slots: int, days: int) -> None:
    """An external platform's feed: places a few kilometres from French towns."""
    _django()
    import orjson
    from django.utils import timezone

    from creneau.geography.models import Commune

    rng = random.Random(SEED)
    towns = list(
        Commune.objects.filter(population__gte=5000).values_list("latitude", "longitude", "name")
    )
    directory.mkdir(parents=True)
    registry = "http://fhir-registry.smarthealthit.org/StructureDefinition"
    with (
        open(directory / "locations.ndjson", "wb") as out_l,
        open(directory / "schedules.ndjson", "wb") as out_s,
    ):
        for i in range(locations):
            latitude, longitude, town = rng.choice(towns)
            out_l.write(
                orjson.dumps(
                    {
                        "resourceType": "Location",
                        "id": str(i),
                        "name": f"Pharmacie Bench {i} de {town}",
                        "address": {"line": [f"{i} rue du Bench"], "city": town},
                        "position": {
                            "latitude": latitude + rng.uniform(-0.03, 0.03),
                            "longitude": longitude + rng.uniform(-0.03, 0.03),
                        },
                    }
                )
                + b"\n"
            )
            out_s.write(
                orjson.dumps(
                    {
                        "resourceType": "Schedule",
                        "id": str(i),
                        "actor": [{"reference": f"Location/{i}"}],
                        "extension": [
                            {
                                "url": f"{registry}/vaccine-product",
                                "valueCoding": {
                                    "system": "http://hl7.org/fhir/sid/cvx",
                                    "code": "212",
                                },
                            }
                        ],
                    }
                )
                + b"\n"
            )
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    per_location = slots // locations
    step = timedelta(minutes=days * 24 * 60 // per_location)
    with open(directory / "slots.ndjson", "wb") as out:
        for i in range(locations):
            for n in range(per_location):
                begins = start + step * n
                out.write(
                    orjson.dumps(
                        {
                            "resourceType": "Slot",
                            "id": f"{i}-{n}",
                            "schedule": {"reference": f"Schedule/{i}"},
                            "status": "free",
                            "start": begins.isoformat(),
                            "end": (begins + timedelta(minutes=10)).isoformat(),
                            "extension": [
                                {
                                    "url": f"{registry}/booking-deep-link",
                                    "valueUrl": f"https://rdv.example.org/{i}/{n}",
                                },
                                {"url": f"{registry}/slot-capacity", "valueInteger": 1},
                            ],
                        }
                    )
                    + b"\n"
                )
    manifest = {
        "transactionTime": timezone.now().isoformat(),
        "request": f"{base}/$bulk-publish",
        "output": [
            {"type": "Location", "url": f"{base}/locations.ndjson"},
            {"type": "Schedule", "url": f"{base}/schedules.ndjson"},
            {"type": "Slot", "url": f"{base}/slots.ndjson"},
        ],
        "error": [],
    }
    (directory / "$bulk-publish").write_bytes(orjson.dumps(manifest))
    size = sum(path.stat().st_size for path in directory.iterdir()) / 2**20
    print(f"  feed: {locations} locations, {per_location * locations} slots, {size:.0f} MiB")


def step_register(base: str) -> None:
    _django()
    from creneau.core.actor import Actor
    from creneau.interop.services import platform_register

    for name in ("Plateforme A", "Plateforme B"):
        platform_register(actor=Actor(user=None), name=name, manifest_url=f"{base}/$bulk-publish")


def step_import(name: str) -> None:
    _django()
    from creneau.core.actor import Actor
    from creneau.interop.models import ExternalPlatform
    from creneau.interop.services import feed_import, platform_external_sites_confirm

    platform = ExternalPlatform.objects.get(name=name)
    baseline = _peak_mib()
    started = time.monotonic()
    report = feed_import(platform_id=platform.pk)
    seconds = time.monotonic() - started
    assert not report.error, report.error
    platform_external_sites_confirm(actor=Actor(user=None), platform_id=platform.pk)
    slots = report.slots + report.ignored
    print(
        f"  {name}: {report.locations} locations ({report.external} external), {slots} slots "
        f"in {seconds:.1f} s, {slots / seconds:,.0f} slots/s; peak {_peak_mib():.0f} MiB "
        f"(after start-up {baseline:.0f} MiB)",
        flush=True,
    )
    print(RESULT + json.dumps({"import": slots / seconds, "peak": _peak_mib()}), flush=True)


def step_search(rounds: int) -> None:
    """The search API's answer time with the imported platforms shown and hidden, the two
    taking turns request by request so that the shared machine weighs on both alike."""
    _django()
    from django.test import Client

    from creneau.interop.models import ExternalPlatform
    from creneau.interop.snapshot import external_snapshot, external_version_bump

    client = Client(HTTP_HOST="127.0.0.1")
    timings = {True: {q: [] for q in QUERIES}, False: {q: [] for q in QUERIES}}
    elsewhere = 0
    loads = []
    for _ in range(rounds):
        for query in QUERIES:
            for shown in (False, True):
                # Hidden: the platforms inactive, so the search finds none of their rows.
                # A change of what search shows is read again once per process (the
                # snapshot of interop/snapshot.py), not per search: read here, untimed
                # with the request, and timed on its own.
                ExternalPlatform.objects.update(active=shown)
                external_version_bump()
                started = time.perf_counter()
                external_snapshot()
                if shown:
                    loads.append(time.perf_counter() - started)
                started = time.perf_counter()
                answer = client.get("/api/v1/sites", {"near": query, "limit": 20})
                timings[shown][query].append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.content
                elsewhere += len(answer.json()["elsewhere"]) if shown else 0
    ExternalPlatform.objects.update(active=True)
    # The median search, each place's best time of its rounds.
    median = {
        shown: statistics.median(min(values) for values in by_query.values()) * 1000
        for shown, by_query in timings.items()
    }
    print(
        f"  search: median {median[False]:.1f} ms without the platforms, {median[True]:.1f} ms "
        f"with them ({elsewhere} places of other platforms shown); their snapshot read in "
        f"{statistics.median(loads):.2f} s (median, once per process and import)"
    )
    print(RESULT + json.dumps({"without_ms": median[False], "with_ms": median[True]}), flush=True)


def _run(step: list[str], env: dict, options: list[str]) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, *options, "--step", *step],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if output.returncode:
        sys.stderr.write(output.stdout + output.stderr)
        raise SystemExit(f"step {step[0]} failed")
    result = {}
    for line in output.stdout.splitlines():
        if line.startswith(RESULT):
            result = json.loads(line.removeprefix(RESULT))
        else:
            print(line, flush=True)
    return result


def _serve(port: int, seconds: float, clients: int) -> tuple[float, int, int]:
    """(requests/s, 200s, 304s) for the manifest and Paris's slots, half conditional."""
    counts = {200: 0, 304: 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    errors: list[str] = []

    def client(n: int) -> None:
        etags: dict[str, str] = {}
        conditional = n % 2 == 0
        paths = ["/smart/$bulk-publish", "/smart/slots-75.ndjson"]
        i = 0
        while time.monotonic() < deadline:
            path = paths[i % 2]
            i += 1
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"If-None-Match": etags[path]} if conditional and path in etags else {}
            try:
                connection.request("GET", path, headers=headers)
                answer = connection.getresponse()
                answer.read()
            except OSError as error:
                errors.append(str(error))
                continue
            finally:
                connection.close()
            if answer.getheader("ETag"):
                etags[path] = answer.getheader("ETag")
            with lock:
                counts[answer.status] = counts.get(answer.status, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        print(f"  {len(errors)} client errors, e.g. {errors[0]}")
    assert set(counts) <= {200, 304}, counts
    return (counts[200] + counts[304]) / elapsed, counts[200], counts[304]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--locations", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, *rest = args.step
        if name == "seed":
            step_seed(args.days)
        elif name == "publish":
            step_publish()
        elif name == "feed":
            step_feed(Path(rest[0]), rest[1], args.locations, args.slots, args.days)
        elif name == "register":
            step_register(rest[0])
        elif name == "import":
            step_import(rest[0])
        elif name == "search":
            step_search(args.rounds)
        return

    tmp = Path(tempfile.mkdtemp(prefix="creneau-interop-"))
    serve_port, feed_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "SMART_PUBLISH_DIR": str(tmp / "smart"),
        "PUBLIC_URL": f"http://127.0.0.1:{serve_port}",
        "API_CACHE_SECONDS": "0",
        "INTEROP_PRIVATE_HOSTS": f"127.0.0.1:{feed_port}",
        "PYTHONPATH": str(ROOT),
    }
    options = [
        f"--days={args.days}",
        f"--locations={args.locations}",
        f"--slots={args.slots}",
        f"--rounds={args.rounds}",
    ]
    processes: list[subprocess.Popen] = []
    try:
        print("seeding:", flush=True)
        _run(["seed"], env, options)
        print("publishing:", flush=True)
        published = _run(["publish"], env, options)

        print(f"serving ({args.clients} clients, {args.seconds:.0f} s):", flush=True)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "deploy/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{serve_port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        processes.append(server)
        for _ in range(150):
            # Up when a worker answers (Django loaded), not when the socket listens.
            try:
                probe = http.client.HTTPConnection("127.0.0.1", serve_port, timeout=5)
                probe.request("GET", "/smart/$bulk-publish")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        rate, full, not_modified = _serve(serve_port, args.seconds, args.clients)
        print(f"  {rate:.0f} requests/s: {full} answered whole, {not_modified} with 304")
        server.terminate()
        server.wait()

        print("importing:", flush=True)
        base = f"http://127.0.0.1:{feed_port}"
        _run(["feed", str(tmp / "feed"), base], env, options)
        feed = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(tmp / "feed"),
                str(feed_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(feed)
        time.sleep(1)
        _run(["register", base], env, options)
        imported = _run(["import", "Plateforme A"], env, options)
        _run(["import", "Plateforme B"], env, options)

        print("search with the 2 platforms shown and hidden, in turns:", flush=True)
        searched = _run(["search"], env, options)
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    slowdown = (searched["with_ms"] / searched["without_ms"] - 1) * 100
    peak = max(published["peak"], imported["peak"])
    print(
        f"interop: publish {published['publish']:.1f} s, serve {rate:.0f} req/s, import "
        f"{imported['import']:,.0f} slots/s, peak {peak:.0f} MiB, search slowdown {slowdown:+.1f}%"
    )


if __name__ == "__main__":
    main()
