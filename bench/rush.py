r"""Launch-morning rush benchmark (issue 3): search → hold → book through gunicorn until no
place is left, on PostgreSQL (and SQLite with --both), against the raw SQL limit.

Each database is measured in its own child process, which starts everything by itself
and removes it at the end:

1. a fresh database (PostgreSQL: a throwaway cluster from scripts/with-postgres.sh, or the
   server DATABASE_URL / TEST_DATABASE_URL names, in which two databases are created and
   dropped; SQLite: a file in a temporary directory), `manage.py migrate`, the geography
   of Paris and the petite couronne, the vaccines and the 2021 eligibility rules;
2. N vaccination centres near Paris built with the real services (`delivery_record`,
   `session_open`): a first-dose session tomorrow, second-dose sessions 35, 42 and 49 days
   later, and the doses to cover them; then one verified contact per person to come.
   Contacts are verified before the rush, as people do: a sample of them through the HTTP
   flow (code read from the outbox table), the thousands of others marked verified in
   bulk, their tokens minted with `contact_token_issue`;
3. a copy of that database for the raw SQL run, and an in-process profile of one booking
   flow (SQL queries per request);
4. gunicorn serving `creneau.wsgi:application` on 127.0.0.1 (DEBUG off, SECRET_KEY set),
   warmed up with the HTTP-verified contacts booking through the whole flow;
5. the rush: a few client processes, each an asyncio loop of raw HTTP/1.1 clients (a few
   hundred lines of asyncio streams, cheaper than any client library), every client a
   stream of persons doing search → hold → book: search names each site's next free
   slots, the person holds "a place at this site and time" (the server takes the next
   free one of the day if that one has just filled); a refused hold searches again; a
   client stops when search finds no free place;
6. the raw SQL limit: the same reads and transactions (search on the read model and the
   next free slots of the nearest sites, the hold's lookup of the day's free slots from
   that time, its conditional slot updates and read-model updates, the
   booking's inserts of idempotency key, person, series, appointments and outbox row),
   written by hand and sent with psycopg (or sqlite3) from a few processes, on the copy;
7. overload: the server started again with the waiting room on (WAITING_ROOM_RATE=auto,
   starting from phase 5's bookings/s x 60 x --room-margin (0.8), or that rate
   fixed with --room-rate fixed), then --overload-factor (10) times the
   crowd for --overload-seconds (60). Each person is a new visitor: a 503 with
   X-Queue-Ticket is waited out (Retry-After) and asked again with the ticket, the pass
   (X-Queue-Pass) sent once admitted. Reported: bookings/s against phase 5's, 5xx other
   than the room's 503, p99 of the answered requests, admissions out of ticket order
   (those only the server can cause: a later ticket admitted before an earlier one was
   last refused), and persons neither served nor told to come back;
8. faults, each in the middle of a rush of --fault-seconds (30) at normal load: kill -9 of
   one gunicorn worker; kill -9 of the whole server (master and workers), started again;
   PostgreSQL restarted (pg_ctl restart -m fast) and stopped --outage-seconds (5) then
   started (only the throwaway cluster of scripts/with-postgres.sh, which says how to
   drive it in CRENEAU_PG_CTL); Redis stopped. Clients send an unanswered request again,
   a booking with its Idempotency-Key (for 30 s past the time cap), and wait out every
   503's Retry-After. Reported: bookings answered 201 that are not in the database,
   bookings left without an answer and recovered, 5xx by kind, seconds from the database
   (or server) being back to the next booking;
9. every invariant, recounted from the rows, on the application's database (and, as a
   check of the raw workload itself, on the copy).

After the raw run, one line gives the cost of a confirmed course at normal load beside
the raw run's: CPU of the app server (gunicorn's process groups), of PostgreSQL (the
processes of the benchmark's own cluster) and of the load generator (the client
processes), requests per course, SQL statements per course by kind (pg_stat_statements,
which scripts/with-postgres.sh loads when CRENEAU_PG_STATEMENTS is set; BEGIN, COMMIT
and savepoints count: each is a round trip), and the ratio to the raw limit. The raw
workload's rows are compared with the application's after one hold and one booking
each, table by table, by tests/bench/test_raw_workload.py: it cannot drift unnoticed.

The last line is the summary the issue asks for (PostgreSQL's figures when it ran):

    rush: <N> bookings/s, <R> of raw SQL limit, <V> invariant violations; overload x10: \
<G> of normal rate, <E> 5xx; faults: <L> confirmed bookings lost

(one line: the backslash is this docstring's).

Run from the project root: .venv/bin/python bench/rush.py [--database postgres|sqlite]
[--both] [--clients 32] [--client-processes 2] [--workers 4] [--server gunicorn|granian]
[--worker-class gthread]
[--sites 20] [--lines 2] [--raw-connections 4] [--seconds 120] [--profile]
[--overload-factor 10] [--overload-seconds 60] [--room-margin 0.8] [--room-rate auto]
[--fault-seconds 30]
[--outage-seconds 5] [--faults n] (a DATABASE_URL naming a PostgreSQL server is used
instead of a throwaway cluster, without the PostgreSQL faults). Development runs:
--sites 3 --clients 16 --seconds 10 --overload-factor 5 --overload-seconds 15
--fault-seconds 15 (about 3 minutes).

Last run on the 2-core machine (PostgreSQL 15, Redis cache, everything CPU-bound): 42 series
bookings/s through HTTP (steady 44/s), 9% of a raw SQL limit of 467/s; per booking the
server spent ~36 ms of CPU (4 requests, ~37 SQL queries), PostgreSQL ~8 ms, the load
generator ~2 ms. SQLite: 49/s, raw limit 789/s. 2, 3, 4 or 6 sync workers and 2 gthread
workers x 4 threads gave the same throughput within the noise then; since issue 15's
lean path, 4 gthread workers x 2 threads (deploy/gunicorn.conf.py's choice) is the
default. The raw SQL limit was best with 2-4 connections (more only add context switches).
With the phases (the machine shared, load average about 6): 24/s at normal load on
PostgreSQL, 31/s on SQLite; overload x10 behind the room (auto) 95% and 94% of that, 0 5xx,
p99 3.3 and 3.0 s, admissions in ticket order; faults: 0 confirmed bookings lost, every
unanswered booking recovered, only 503s with Retry-After while PostgreSQL was down,
bookings again within 5 s of it being back (docs/operations.md, "Capacity planning").
"""

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from machine import calibrate, cpu_ticks, free_port, percentile, steal_share

ROOT = Path(__file__).resolve().parent.parent
SEED = 2021
AREA = ["75", "92", "93", "94"]  # Paris and the petite couronne
VACCINE = "comirnaty"
SESSION = (clock(8), clock(18), 10)  # 08:00-18:00, 10-minute slots: 60 slots a day
SLOTS_PER_DAY = 60
DOSE2_OFFSETS = (35, 42, 49)  # days after dose 1, inside comirnaty's 21..49
BIRTH = date(1950, 1, 1)  # adults: the seeded 2021 rules admit them
# A course: search (which names each site's next free slots, issue 15), hold, book.
STEPS = ("search", "hold", "book")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--both", action="store_true", help="PostgreSQL, then SQLite")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--server",
        default="gunicorn",
        choices=["gunicorn", "granian"],
        help="granian: its WSGI interface (pip install granian; PYTHONPATH may name it)",
    )
    # deploy/gunicorn.conf.py's own choice: the benchmark measures what production runs.
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument(
        "--threads", type=int, default=2, help="threads per gthread or granian worker"
    )
    parser.add_argument("--sites", type=int, default=20, help="vaccination centres")
    parser.add_argument("--lines", type=int, default=2, help="places per 10-minute slot")
    parser.add_argument("--raw-connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=120, help="time cap per rush")
    parser.add_argument(
        "--overload-factor", type=int, default=10, help="the overload's crowd: x --clients"
    )
    parser.add_argument("--overload-seconds", type=float, default=60)
    parser.add_argument(
        "--room-margin",
        type=float,
        default=0.8,
        help="WAITING_ROOM_RATE = the normal load's bookings/s x 60 x this",
    )
    parser.add_argument(
        "--room-rate",
        choices=["auto", "fixed"],
        default="auto",
        help="auto: WAITING_ROOM_RATE=auto from the margin's rate (WAITING_ROOM_RATE_MIN), "
        "following the measured capacity; fixed: the margin's rate",
    )
    parser.add_argument("--fault-seconds", type=float, default=30, help="each fault's rush")
    parser.add_argument("--faults", type=int, default=99, help="only the first n faults")
    parser.add_argument(
        "--outage-seconds", type=float, default=5, help="PostgreSQL stopped this long"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile in-process flows")
    parser.add_argument(
        "--no-redis", action="store_true", help="per-worker cache even if redis-server exists"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    # Internal: run one database in this process and write its figures to a file.
    parser.add_argument("--run", choices=["postgres", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 512 or not 1 <= args.client_processes <= 16:
        parser.error("--clients goes up to 512 and --client-processes up to 16")
    if not 1 <= args.workers <= 32 or not 1 <= args.raw_connections <= 64:
        parser.error("--workers goes up to 32 and --raw-connections up to 64")
    if not 1 <= args.sites <= 500 or not 1 <= args.lines <= 100:
        parser.error("--sites goes up to 500 and --lines up to 100")
    if not 0 < args.seconds <= 1800:
        parser.error("--seconds goes up to 1800")
    if not 6 <= args.fault_seconds <= 600 or not 6 <= args.overload_seconds <= 600:
        parser.error("--fault-seconds and --overload-seconds go from 6 to 600")
    if not 1 <= args.overload_factor <= 50 or not 0.1 <= args.room_margin <= 3:
        parser.error("--overload-factor goes up to 50, --room-margin from 0.1 to 3")
    if not 0 < args.outage_seconds < args.fault_seconds / 2:
        parser.error("--outage-seconds must fit in the first half of --fault-seconds")
    args.client_processes = min(args.client_processes, args.clients)
    return args


# ---------------------------------------------------------------------------------------
# The orchestrator: one child process per database, then the summary.


def main() -> None:
    args = parse_args()
    if args.run:
        run_database(args)
        return
    kinds = ["postgres", "sqlite"] if args.both else [args.database]
    results = {}
    passthrough = [a for a in sys.argv[1:] if a not in ("--both",)]
    passthrough = strip_option(passthrough, "--database")
    with tempfile.TemporaryDirectory(prefix="creneau-rush-") as tmp:
        for kind in kinds:
            result_file = Path(tmp) / f"{kind}.json"
            command = [sys.executable, str(Path(__file__).resolve()), *passthrough]
            command += ["--run", kind, "--result-file", str(result_file)]
            env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
            if kind == "postgres" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
                # A throwaway cluster for the length of this run (or TEST_DATABASE_URL's),
                # counting statements (pg_stat_statements).
                command = [str(ROOT / "scripts" / "with-postgres.sh"), *command]
                env["CRENEAU_PG_STATEMENTS"] = "1"
            if kind == "postgres" and os.environ.get("DATABASE_URL", "").startswith("postgres"):
                env["DATABASE_URL"] = os.environ["DATABASE_URL"]
            print(f"\n=== {kind} ===", flush=True)
            done = subprocess.run(command, cwd=ROOT, env=env)
            if done.returncode != 0 or not result_file.exists():
                raise SystemExit(f"the {kind} run failed (exit status {done.returncode})")
            results[kind] = json.loads(result_file.read_text())
    print()
    for kind, r in results.items():
        print(
            f"{kind}: {r['rate']:.0f} bookings/s through HTTP ({r['bookings']:,} in "
            f"{r['seconds']:.1f} s, steady {r['steady']:.0f}/s), raw SQL limit "
            f"{r['raw_rate']:.0f}/s, ratio {r['ratio']:.0%}; {r['violations']} invariant "
            f"violations; goal 333/s: {'met' if r['rate'] >= 333 else 'not met'}"
        )
        print(cost_line(kind, r["per_booking"]))
        print(phases_table(kind, r))
    head = results.get("postgres") or next(iter(results.values()))
    violations = sum(r["violations"] for r in results.values())
    lost = sum(r["lost"] for r in results.values())
    print(
        f"rush: {head['rate']:.0f} bookings/s, {head['ratio']:.0%} of raw SQL limit, "
        f"{violations} invariant violations; overload x{args.overload_factor}: "
        f"{head['gain']:.0%} of normal rate, {head['overload_5xx']} 5xx; "
        f"faults: {lost} confirmed bookings lost"
    )


def cost_per_booking(rush: dict, raw: dict) -> dict:
    """What one confirmed course cost, at normal load and in the raw SQL run of the same
    work: CPU (ms) by process kind, requests, SQL statements (None: not counted)."""
    n, m = max(rush["confirmed"], 1), max(raw["confirmed"], 1)
    per = {
        "rate": rush["rate"],
        "raw_rate": raw["rate"],
        "server_ms": rush["cpu"]["server"] / n * 1000,
        "database_ms": rush["cpu"]["postgres"] / n * 1000,
        "clients_ms": rush["cpu"]["clients"] / n * 1000,
        "requests": rush["requests"] / n,
        "statements": None,
        "statement_kinds": {},
        "raw_database_ms": raw["cpu"]["postgres"] / m * 1000,
        "raw_clients_ms": raw["cpu"]["clients"] / m * 1000,
        "raw_statements": None,
    }
    if rush.get("statements"):
        per["statements"] = sum(rush["statements"].values()) / n
        per["statement_kinds"] = {k: v / n for k, v in rush["statements"].items()}
    if raw.get("statements"):
        per["raw_statements"] = sum(raw["statements"].values()) / m
        per["raw_statement_kinds"] = {k: v / m for k, v in raw["statements"].items()}
    return per


def cost_line(kind: str, per: dict) -> str:
    def count(value):
        return "not counted" if value is None else f"{value:.1f}"

    database = "PostgreSQL" if kind == "postgres" else "SQLite (inside the server)"

    def by_kind(kinds: dict) -> str:
        listed = ", ".join(f"{k} {v:.1f}" for k, v in sorted(kinds.items(), key=lambda x: -x[1]))
        return f" ({listed})" if listed else ""

    return (
        f"{kind}, per confirmed course: app server {per['server_ms']:.1f} ms CPU, "
        f"{database} {per['database_ms']:.1f} ms (raw SQL run {per['raw_database_ms']:.1f} ms), "
        f"load generator {per['clients_ms']:.1f} ms (raw SQL clients "
        f"{per['raw_clients_ms']:.1f} ms); {per['requests']:.2f} requests; SQL statements "
        f"{count(per['statements'])}{by_kind(per['statement_kinds'])}; raw SQL run "
        f"{count(per['raw_statements'])}{by_kind(per.get('raw_statement_kinds', {}))}; "
        f"{per['rate']:.1f} courses/s = "
        f"{per['rate'] / per['raw_rate']:.0%} of the raw SQL limit {per['raw_rate']:.0f}/s"
    )


def phases_table(kind: str, r: dict) -> str:
    """The phases side by side (Markdown, as docs/operations.md keeps it)."""

    def cell(value, form):
        return "–" if value is None else format(value, form) + " s"

    rows = [
        f"| {kind} | bookings/s | 5xx (not 503) | 503 + Retry-After | p99 answered | "
        "lost | no answer → recovered | back after |",
        "|---|---|---|---|---|---|---|---|",
        f"| normal load | {r['rate']:.1f} | – | – | {cell(r.get('p99'), '.2f')} | – | – | – |",
    ]
    overload = (
        f"overload x{r['factor']} ({r['overload']['clients']} clients, room {r['room_rate']}/min)"
    )
    for name, s in [(overload, r["overload"]), *r["faults"].items()]:
        rows.append(
            f"| {name} | {s['rate']:.1f} | {s['errors_500']} | "
            f"{sum(s['server_errors'].values()) - s['errors_500']} | {cell(s['p99'], '.2f')} | "
            f"{s['lost']} | {s['book_unanswered']} → {s['book_recovered']} | "
            f"{cell(s['recovery'], '.1f')} |"
        )
    return "\n".join(rows)


def strip_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


# ---------------------------------------------------------------------------------------
# One database: setup, profile, server, rush, raw limit, invariants.


def run_database(args: argparse.Namespace) -> None:
    kind = args.run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix=f"creneau-rush-{kind}-"))
    server = redis = None
    stack: dict = {"server": None, "redis": None}  # what the faults break and restart
    pg_base = os.environ.get("DATABASE_URL", "") if kind == "postgres" else ""
    names = {}
    try:
        if kind == "postgres":
            names = {"main": f"rush_{os.getpid()}", "raw": f"rush_{os.getpid()}_raw"}
            pg_admin(pg_base, f'CREATE DATABASE "{names["main"]}"')
            main_url = db_url(pg_base, names["main"])
            raw_target = db_url(pg_base, names["raw"])
        else:
            main_url = f"sqlite:///{workdir / 'rush.sqlite3'}"
            raw_target = str(workdir / "raw.sqlite3")
        # The server's address is known before the setup books anyone: messages link to it.
        port = free_port()
        env = {
            "DATABASE_URL": main_url,
            "SECRET_KEY": secrets.token_urlsafe(40),
            # Production's encryption of personal data, with keys of this run only.
            "FIELD_ENCRYPTION_KEYS": "1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "BLIND_INDEX_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DEBUG": "0",
            "CRENEAU_DEMO": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "creneau.settings",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.pop("REDIS_URL", None)
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
        )
        django_setup(env)
        from django.db import connection, connections

        connection.ensure_connection()
        version = (
            f"PostgreSQL {connection.pg_version // 10000}.{connection.pg_version % 10000}"
            if kind == "postgres"
            else f"SQLite {connection.Database.sqlite_version}"
        )
        statements = None
        if kind == "postgres":
            postmaster_find()
            statements = Statements.open(pg_base)
        world = seed(args)
        print(
            f"{version}: {world['sites']} centres near Paris, {world['places']:,} first-dose "
            f"places tomorrow (+ {world['dose2_places']:,} second-dose places 35-49 days later), "
            f"{len(world['tokens']):,} contacts verified beforehand; set up in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )

        # The raw run gets a copy of the same slots, taken before anyone books.
        connections.close_all()
        if kind == "postgres":
            pg_admin(pg_base, f'CREATE DATABASE "{names["raw"]}" TEMPLATE "{names["main"]}"')
        else:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connections.close_all()
            shutil.copyfile(workdir / "rush.sqlite3", raw_target)

        booked_before = profile_queries(world, rounds=3, cprofile=args.profile)
        connections.close_all()

        redis, redis_url = (None, None) if args.no_redis else start_redis(workdir)
        stack["redis"] = redis
        print(
            f"cache: Redis on {redis_url} (shared by the workers, as in production)"
            if redis_url
            else "cache: local memory, per worker (no redis-server, or --no-redis)",
            flush=True,
        )
        server, log_path = start_server(
            args, {**env, **({"REDIS_URL": redis_url} if redis_url else {})}, workdir, port
        )
        kind_label = f"gunicorn {args.workers} {args.worker_class} workers"
        if args.worker_class == "gthread":
            kind_label += f" x {args.threads} threads"
        if args.server == "granian":
            kind_label = f"granian WSGI {args.workers} workers x {args.threads} threads"

        sample = verify_over_http(port, n=max(8, 2 * args.workers))
        warm = asyncio.run(
            run_clients(
                port,
                tokens=[token for token, _ in sample],
                homes=world["homes"],
                clients=min(len(sample), 2 * args.workers),
                seed=args.seed - 1,
                seconds=60,
                # Apart from the rush's persons (process i counts from i x 10^6).
                first_person=10**8,
                one_each=True,
            )
        )
        if warm["errors"]:
            raise SystemExit(f"warm-up failed: {warm['errors'][:3]}")
        booked_before += warm["confirmed"]
        print(
            f"{kind_label} on 127.0.0.1:{port}; {len(sample)} contacts verified "
            f"through HTTP (code read from the outbox: start median "
            f"{ms(statistics.median(sample_times['start']))}, confirm median "
            f"{ms(statistics.median(sample_times['confirm']))}), then {warm['confirmed']} "
            f"warm-up bookings through the whole flow",
            flush=True,
        )

        # 1. Normal load: the rush as it always was, no waiting room.
        spare = set(world["profile_contacts"])
        speed_before = calibrate()
        connections.close_all()
        if statements:
            statements.reset()
        rush = rush_over_http(
            args,
            port,
            world,
            clients=args.clients,
            seconds=args.seconds,
            tokens=[t for i, t in enumerate(world["tokens"]) if i not in spare],
        )
        rush["statements"] = statements.count(names["main"]) if statements else None
        top = statements.top(names["main"]) if statements else []
        speed_after = calibrate()
        stop_server(server)
        server = None
        server_errors = log_errors(log_path)

        report_rush(args, rush, world, kind_label, speed_before, speed_after)
        if top:
            n = max(rush["confirmed"], 1)
            print("  statements run most often, per confirmed course (PostgreSQL's own time):")
            for calls, spent, query in top:
                print(f"    {calls / n:5.2f} x {spent / calls:.3f} ms  {query}")
        for line in server_errors[:3]:
            print(f"  server log: {line}")
        if not rush["confirmed"]:
            raise SystemExit("the rush booked nothing: nothing was measured")

        # The raw SQL limit, on the copy, while no server runs.
        if statements:
            statements.reset()
        raw = rush_raw_sql(args, kind, raw_target, world)
        raw["statements"] = statements.count(names["raw"]) if statements else None
        report_raw(raw)
        if raw["errors"] or not raw["confirmed"]:
            raise SystemExit(f"the raw SQL run failed: {raw['errors'][:3]}")
        per_booking = cost_per_booking(rush, raw)
        print(cost_line(kind, per_booking), flush=True)
        use_database(kind, main_url if kind == "postgres" else str(workdir / "rush.sqlite3"))

        # 2. Overload: ten times the crowd, the waiting room admitting at phase 1's rate.
        # From the whole phase's rate, not its steady part's: the steady rate is the server's
        # best stretch, and 0.8 x it is already about what it sustains (the room's floor
        # there left it no room to cut: p99 1-2 s).
        room_rate = max(1, round(rush["rate"] * 60 * args.room_margin))
        server_env = {
            **env,
            **({"REDIS_URL": redis_url} if redis_url else {}),
            "WAITING_ROOM_RATE": "auto" if args.room_rate == "auto" else str(room_rate),
            # auto: the rate starts there and follows the measured capacity
            "WAITING_ROOM_RATE_MIN": str(room_rate),
        }
        day = [1]  # the day after tomorrow onwards: one day of new places for each phase
        booked = booked_before + rush["confirmed"]
        references = list(rush["references"])

        def phase(clients: int, seconds: float, during=None) -> dict:
            """Places and contacts of its own for the next phase, then the phase."""
            nonlocal booked
            need = rush["steady"] * seconds * 1.5 + clients
            day[0] += 1
            lines = min(100, math.ceil(need / (world["sites"] * SLOTS_PER_DAY)))
            places_open(
                world["site_ids"], day=world["tomorrow"] + timedelta(days=day[0] - 1), lines=lines
            )
            _, tokens = contacts_make(int(need * args.client_processes) + 100)
            connections.close_all()
            result = rush_over_http(
                args,
                port,
                world,
                clients=clients,
                seconds=seconds,
                tokens=tokens,
                first_person=day[0] * 10**7,
                during=during,
            )
            connections.close_all()
            result["lost"] = bookings_lost(result["references"])
            booked += result["confirmed"]
            references.extend(result["references"])
            return result

        stack["server"], log_path = start_server(args, server_env, workdir, port)
        crowd = args.clients * args.overload_factor
        overload = phase(
            crowd, args.overload_seconds, during=room_sampler(port, args.overload_seconds)
        )
        report_overload(
            overload,
            rush,
            room_rate=f"auto from {room_rate}" if args.room_rate == "auto" else room_rate,
            factor=args.overload_factor,
        )

        # 3. Faults, each in the middle of a rush at normal load (the waiting room still on).
        faults = {}
        for name, act in fault_plan(args, kind, stack, server_env, workdir, port)[: args.faults]:
            result = phase(args.clients, args.fault_seconds, during=act)
            if stack["server"] is None or stack["server"].poll() is not None:
                stack["server"], log_path = start_server(args, server_env, workdir, port)
            report_fault(name, result)
            faults[name] = result
        server_errors = log_errors(log_path)
        stop_server(stack["server"])
        stack["server"] = None
        for line in server_errors[:3]:
            print(f"  server log: {line}")
        lost = sum(f["lost"] for f in faults.values())

        # Invariants: the application's database, then the copy (a check of the raw SQL).
        print("invariants, application database (after profile, warm-up and every phase):")
        violations = check_invariants(expected_series=booked, references=references)
        use_database(kind, raw_target)
        print("invariants, raw SQL copy (checks the benchmark's own SQL, not counted):")
        check_invariants(expected_series=raw["confirmed"], references=None)

        rate = rush["rate"]
        ratio = rate / raw["rate"] if raw["rate"] else 0.0
        gain = overload["rate"] / rate
        errors5 = sum(overload["server_errors"].values())
        print(
            f"{kind}: {rate:.0f} confirmed series bookings/s through HTTP, raw SQL limit "
            f"{raw['rate']:.0f}/s: {ratio:.0%} of it; {violations} invariant violations; "
            f"overload x{args.overload_factor}: {gain:.0%} of the normal rate, {errors5} 5xx; "
            f"faults: {lost} confirmed bookings lost",
            flush=True,
        )
        if args.result_file:
            Path(args.result_file).write_text(
                json.dumps(
                    {
                        "rate": rate,
                        "steady": rush["steady"],
                        "p99": percentile(admitted_latency(rush), 0.99),
                        "bookings": rush["confirmed"],
                        "seconds": rush["seconds"],
                        "raw_rate": raw["rate"],
                        "ratio": ratio,
                        "violations": violations,
                        "overload": phase_summary(overload),
                        "gain": gain,
                        "overload_5xx": errors5,
                        "room_rate": f"auto from {room_rate}"
                        if args.room_rate == "auto"
                        else room_rate,
                        "factor": args.overload_factor,
                        "faults": {name: phase_summary(f) for name, f in faults.items()},
                        "lost": lost,
                        "per_booking": per_booking,
                    }
                )
            )
    finally:
        stop_server(server)
        stop_server(stack["server"])
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=15)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if kind == "postgres" and pg_base:
            for name in names.values():
                with contextlib.suppress(Exception):
                    pg_admin(pg_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise, no static


def db_url(base: str, name: str) -> str:
    return urlsplit(base)._replace(path="/" + name).geturl()


def pg_dsn(url: str) -> str:
    """The URL for psycopg: Django's options (?server_side_binding=true …) left out."""
    return urlsplit(url)._replace(query="").geturl()


def pg_admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn(base), autocommit=True) as conn:
        conn.execute(sql)


def use_database(kind: str, target: str) -> None:
    """Point this process's Django connection at the other database of the same schema."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = (
        urlsplit(target).path.lstrip("/") if kind == "postgres" else target
    )


# ---------------------------------------------------------------------------------------
# The world: centres near Paris, their stock and sessions, verified contacts.


def seed(args) -> dict:
    from django.db.models import Sum
    from django.utils import timezone

    from creneau.core.geo import Position, grid_cell
    from creneau.eligibility.models import EligibilityRule
    from creneau.eligibility.services import eligibility_seed
    from creneau.geography.models import Commune
    from creneau.geography.selectors import place_resolve
    from creneau.geography.services import geography_load
    from creneau.scheduling.models import Slot
    from creneau.sites.models import Site
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import vaccines_seed

    rng = random.Random(args.seed)
    geography_load(departments=AREA)
    vaccines_seed()
    eligibility_seed()
    vaccine = Vaccine.objects.get(code=VACCINE)
    now = timezone.now()
    today = timezone.localdate(now)
    tomorrow = today + timedelta(days=1)
    # Paris's arrondissements first, then the largest communes around.
    communes = sorted(
        Commune.objects.filter(department_id__in=AREA, postal_codes__isnull=False)
        .distinct()
        .prefetch_related("postal_codes"),
        key=lambda c: (c.department_id != "75", -c.population, c.insee_code),
    )
    sites, homes = [], []
    for i in range(args.sites):
        commune = communes[i % len(communes)]
        postcode = sorted(p.code for p in commune.postal_codes.all())[0]
        metres, bearing = abs(rng.gauss(0, 300)), rng.uniform(0, 2 * math.pi)
        latitude = round(commune.latitude + metres * math.cos(bearing) / 111_195, 6)
        longitude = round(
            commune.longitude
            + metres * math.sin(bearing) / (111_195 * math.cos(math.radians(latitude))),
            6,
        )
        site = Site.objects.create(
            name=f"Centre de vaccination {commune.name} #{i + 1}",
            kind=Site.Kind.CENTRE,
            status=Site.Status.PUBLISHED,
            commune=commune,
            department_id=commune.department_id,
            postcode=postcode,
            latitude=latitude,
            longitude=longitude,
            grid_cell=grid_cell(Position(latitude, longitude)),
            address=f"{rng.randint(1, 120)} rue de la République",
            source="rush",
        )
        sites.append((site.pk, latitude, longitude))
        if postcode not in homes:
            with contextlib.suppress(Exception):
                place_resolve(query=postcode)
                homes.append(postcode)
    places_open([pk for pk, _, _ in sites], day=tomorrow, lines=args.lines)
    dose1 = Slot.objects.filter(dose_number=1).aggregate(n=Sum("capacity"))["n"]
    dose2 = Slot.objects.filter(dose_number=2).aggregate(n=Sum("capacity"))["n"]
    # One contact per person to come. Each client process has its own share, enough for
    # every place (one process may book more than its half), and a margin for the profile.
    count = dose1 * args.client_processes + 4 * args.clients + 200
    contacts, tokens = contacts_make(count)
    rule = EligibilityRule.objects.filter(slug="2021-06-12-ans").values_list("pk", flat=True)
    positions = {p.code: (c.latitude, c.longitude) for c in communes for p in c.postal_codes.all()}
    return {
        "sites": len(sites),
        "site_ids": [pk for pk, _, _ in sites],
        "tomorrow": tomorrow,
        "site_positions": sites,
        "homes": homes,
        "home_positions": [positions[h] for h in homes],
        "places": dose1,
        "dose2_places": dose2,
        "contacts": contacts,
        "tokens": tokens,
        "vaccine": {
            "id": vaccine.pk,
            "min": vaccine.interval_min_days,
            "rec": vaccine.interval_recommended_days,
            "max": vaccine.interval_max_days,
        },
        "rule_id": rule.first(),
        "profile_contacts": list(range(count - 3 * args.clients - 150, count)),
    }


def places_open(site_ids: list[int], *, day: date, lines: int) -> int:
    """At every centre, a first-dose session on `day` and second-dose sessions 35, 42 and 49
    days later, with the doses to cover them (built with the real services); returns the
    first-dose places opened."""
    from django.utils import timezone

    from creneau.scheduling.services import session_open
    from creneau.sites.models import Site
    from creneau.vaccines.models import Vaccine
    from creneau.vaccines.services import delivery_record

    vaccine = Vaccine.objects.get(code=VACCINE)
    now = timezone.now()
    start, end, minutes = SESSION
    places = SLOTS_PER_DAY * lines
    for site in Site.objects.filter(pk__in=site_ids).order_by("pk"):
        delivery_record(
            site=site,
            vaccine=vaccine,
            quantity=places * vaccine.doses_in_series,
            expected_on=timezone.localdate(now),
            lot="LOT-RUSH",
            received_at=now,
        )
        for dose, offset in [(1, 0)] + [(2, offset) for offset in DOSE2_OFFSETS]:
            session_open(
                site=site,
                vaccine=vaccine,
                day=day + timedelta(days=offset),
                start_time=start,
                end_time=end,
                lines=lines,
                slot_minutes=minutes,
                dose_number=dose,
                now=now,
            )
    return places * len(site_ids)


CONTACTS_MADE: list[int] = [0]


def contacts_make(count: int) -> tuple[list[tuple[int, str]], list[str]]:
    """`count` contacts verified beforehand (as people do before the rush), new numbers each
    call: their (pk, address) and contact tokens."""
    from django.utils import timezone

    from creneau.booking.addresses import contact_address_index
    from creneau.booking.models import Contact
    from creneau.booking.services import contact_token_issue

    first, now = CONTACTS_MADE[0], timezone.now()
    CONTACTS_MADE[0] += count
    addresses = [f"+3361{n:07d}" for n in range(first, first + count)]
    made = Contact.objects.bulk_create(
        [
            Contact(
                channel="sms",
                address=address,
                address_index=contact_address_index(address),
                language="fr",
                verified_at=now,
            )
            for address in addresses
        ],
        batch_size=2000,
    )
    contacts = [(c.pk, c.address) for c in made]  # keys returned by both databases
    return contacts, [contact_token_issue(contact=Contact(pk=pk)) for pk, _ in contacts]


# ---------------------------------------------------------------------------------------
# In-process profile: SQL queries per request of one booking flow (before the rush).


def profile_queries(world: dict, *, rounds: int, cprofile: bool) -> int:
    """Book `rounds` persons through the test client, counting queries per step, with the
    server's settings (the crowd's limits off); returns the bookings made."""
    from django.test.utils import override_settings

    crowd = {k: int(v) if k.startswith("HOLDS_") else v for k, v in CROWD_FROM_ONE_ADDRESS.items()}
    with override_settings(**crowd):
        return _profile_queries(world, rounds=rounds, cprofile=cprofile)


def _profile_queries(world: dict, *, rounds: int, cprofile: bool) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    spare = list(world["profile_contacts"])
    tokens = world["tokens"]
    counts: dict[str, list[int]] = defaultdict(list)
    timings: dict[str, list[float]] = defaultdict(list)
    tables: dict[str, Counter] = defaultdict(Counter)
    booked = 0

    def flow(n: int, capture: bool) -> None:
        nonlocal booked
        token = tokens[spare.pop()]
        home = world["homes"][n % len(world["homes"])]
        path = "/api/v1/sites?" + urlencode(search_query(home))
        found = call("search", "get", path, None, {}, capture)["results"]
        site = next(r for r in found if r["available_slots"] > 0)
        place = {
            "site_id": site["id"],
            "start": site["next_slots"][-1]["start"],
            "vaccine": VACCINE,
        }
        hold = call("hold", "post", "/api/v1/holds", place, {}, capture)
        body = booking_body(hold["id"], token, 2 * 10**8 + n)  # apart from the rush
        headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
        call("book", "post", "/api/v1/bookings", body, headers, capture)
        booked += 1

    def call(step, method, path, body, headers, capture):
        kwargs = dict(headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = getattr(client, method)(path, **kwargs)
            spent = time.perf_counter() - began
        if response.status_code not in (200, 201):
            raise SystemExit(
                f"profile: {method.upper()} {path}: {response.status_code} "
                f"{response.content[:300]!r}"
            )
        if capture:
            counts[step].append(len(captured))
            timings[step].append(spent)
            for query in captured.captured_queries:
                sql = query["sql"].lstrip()
                verb = sql.split(None, 1)[0].upper()
                table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
                tables[step][f"{verb} {table[1] if table else '?'}"] += 1
        return response.json()

    flow(0, capture=False)  # first call loads the caches: not counted
    for n in range(1, rounds + 1):
        flow(n, capture=True)
    parts = [
        f"{step} {statistics.median(counts[step]):.0f} queries, "
        f"{ms(statistics.median(timings[step]))}"
        for step in STEPS
        if counts[step]
    ]
    print(f"in-process profile (Django test client, one request at a time): {'; '.join(parts)}")
    for step in ("hold", "book"):
        detail = ", ".join(
            f"{what} x{n // rounds}"
            for what, n in sorted(tables[step].items(), key=lambda x: -x[1])
        )
        print(f"  {step}: {detail}")
    if cprofile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile(time.process_time)  # CPU time, not waiting
        profiler.enable()
        for n in range(rounds + 1, rounds + 31):
            flow(n, capture=False)
        profiler.disable()
        for order, restriction, title in (
            (
                "cumulative",
                ("creneau/|ninja/operation|ninja/signature|pydantic|json", 30),
                "cumulative, application",
            ),
            ("tottime", (25,), "own time, everything"),
        ):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(order).print_stats(*restriction)
            print(f"  cProfile of 30 flows, CPU seconds ({title}):")
            table = out.getvalue().split("ncalls", 1)
            if len(table) == 2:
                print(
                    "       ncalls"
                    + table[1]
                    .rstrip()
                    .replace(str(ROOT) + "/", "")
                    .replace(str(Path(sys.prefix)) + "/lib/python3.11/site-packages/", "")
                )
    return booked


# ---------------------------------------------------------------------------------------
# The server.


def start_redis(workdir: Path) -> tuple[subprocess.Popen | None, str | None]:
    """A throwaway Redis (Debian's redis-server), in memory only, or none if not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return redis, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    redis.terminate()
    return None, None


# Every simulated person comes from 127.0.0.1: the limits per address and per API caller
# (one address here) would refuse the crowd, so they are raised, as an operator would
# for a partner's address (docs/operations.md).
CROWD_FROM_ONE_ADDRESS = {
    "HOLDS_PER_CLIENT": "0",
    "HOLDS_PER_ADDRESS": "0",
    "LIMIT_HOLDS_PER_CLIENT": "0",
    "LIMIT_CODES_PER_ADDRESS": "0",
    "LIMIT_CODES_PER_NUMBER": "0",
    "LIMIT_SMS_PER_MINUTE": "0",
    "LIMIT_BOOKINGS_PER_CONTACT": "0",
}


def start_server(args, env: dict, workdir: Path, port: int):

    # The production configuration (deploy/gunicorn.conf.py: the workers end with their
    # master, metrics shared between processes), with the benchmark's choices over it.
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    command += ["--worker-class", args.worker_class, "--log-level", "warning"]
    command += ["--backlog", "2048"]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    if args.server == "granian":  # the comparison of docs/architecture.md's table
        command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--workers", str(args.workers)]
        command += ["--blocking-threads", str(args.threads), "--backlog", "2048"]
        command += ["--log-level", "warning", "creneau.wsgi:application"]
    log_path = workdir / "gunicorn.log"
    # gunicorn's configuration makes it (on_starting); granian has no such hook.
    (workdir / "metrics").mkdir(exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 (the server holds it)
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={
            **os.environ,
            **CROWD_FROM_ONE_ADDRESS,
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            **env,
        },
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    SERVER_GROUP.append(server.pid)  # its own session: the group is the master's pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/sites?near=75017", headers={"Host": "127.0.0.1"})
            if conn.getresponse().status == 200:
                conn.close()
                return server, log_path
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise SystemExit(f"gunicorn did not answer on 127.0.0.1:{port}\n{log_path.read_text()[-3000:]}")


def stop_server(server) -> None:
    if server is not None and server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # its own group: the master and its workers
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def log_errors(path: Path) -> list[str]:
    """Tracebacks and error lines from the server's log."""
    text = path.read_text(errors="replace") if path.exists() else ""
    blocks = re.split(r"\n(?=\S)", text)
    return [b.strip()[-1500:] for b in blocks if re.search(r"Traceback|Error|ERROR|CRITICAL", b)]


sample_times: dict[str, list[float]] = defaultdict(list)


def verify_over_http(port: int, n: int) -> list[tuple[str, str]]:
    """Verify n contacts the way people do: ask for a code, read it, confirm it."""

    from creneau.outreach.models import Notification
    from creneau.outreach.rendering import notification_render

    verified = []
    for i in range(n):
        phone = f"+3362{i:07d}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        began = time.perf_counter()
        status, body = http_json(conn, "POST", "/api/v1/contacts/verifications", {"phone": phone})
        sample_times["start"].append(time.perf_counter() - began)
        if status != 201:
            raise SystemExit(f"POST /api/v1/contacts/verifications: {status} {body}")
        message = Notification.objects.get(event=f"verification:{body['id']}")
        code = re.search(r"\b(\d{6})\b", notification_render(notification=message).body)[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        began = time.perf_counter()
        status, answer = http_json(
            conn, "POST", f"/api/v1/contacts/verifications/{body['id']}/confirm", {"code": code}
        )
        sample_times["confirm"].append(time.perf_counter() - began)
        if status != 200:
            raise SystemExit(f"confirm: {status} {answer}")
        verified.append((answer["contact_token"], phone))
    from django.db import connections

    connections.close_all()
    return verified


def http_json(conn, method: str, path: str, body=None):
    payload = None if body is None else json.dumps(body)
    headers = {"Host": "127.0.0.1", "Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


# ---------------------------------------------------------------------------------------
# The HTTP load: raw HTTP/1.1 over asyncio streams, keep-alive when the server keeps it.


class Http:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader = self.writer = None
        self.opened = 0

    async def request(self, method: str, path: str, body=None, extra: bytes = b""):
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        message = head.encode() + extra
        if body is not None:
            message += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
        message += b"\r\n" + payload
        for attempt in range(2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.opened += 1
            try:
                self.writer.write(message)
                header = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh or attempt:  # only a reused keep-alive connection is retried
                    raise
                continue
            lines = header.decode("latin-1").split("\r\n")
            status = int(lines[0][9:12])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", 0))
            data = await self.reader.readexactly(length) if length else b""
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, data, headers
        raise ConnectionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def search_query(home: str) -> dict:
    return {"near": home, "vaccine": VACCINE, "dose": 1, "limit": 10}


def booking_body(hold_id: str, token: str, n: int) -> dict:
    return {
        "hold_id": hold_id,
        "contact_token": token,
        "person": {
            "given_name": f"Personne{n}",
            "family_name": "Ruée",
            "birth_date": (BIRTH + timedelta(days=n % 3650)).isoformat(),
            "categories": [],
        },
    }


async def run_clients(
    port: int,
    *,
    tokens: list[str],
    homes: list[str],
    clients: int,
    seed: int,
    seconds: float,
    first_person: int,
    one_each: bool = False,
    grace: float = 30,
) -> dict:
    """`clients` concurrent clients, each a stream of persons booking until nothing is left.

    Each person is a new visitor of the waiting room: a 503 with X-Queue-Ticket is waited
    out (Retry-After) and asked again with the ticket, the X-Queue-Pass of an admitted
    visitor sent on each later step. A request left without an answer (a worker or the
    server killed) is sent again, the same bytes: a booking keeps its Idempotency-Key,
    and is retried for `grace` seconds after the time cap. Any other 5xx is counted, then
    waited out (its Retry-After, or a second) and asked again."""
    from creneau.admission.waiting_room import ticket_read

    stats = {
        "latency": {step: [] for step in STEPS},
        "answered": [],  # (when, how long) of every answered request, for the timeline
        "refusals": Counter(),
        "errors": [],
        "confirmed": 0,
        "done_at": [],
        "references": [],
        "connections": 0,
        "requests": 0,
        "out_of_contacts": 0,
        "stopped": Counter(),
        "server_errors": Counter(),  # 5xx other than the waiting room's, by step and kind
        "server_errors_at": [],
        "unanswered": Counter(),  # requests without an answer, by step
        "book_unanswered": 0,  # bookings whose first sending got no answer…
        "book_recovered": 0,  # …then answered 201 when sent again
        "room_answers": 0,  # the waiting room's 503s
        "queued": [],  # (store, ticket, last refusal sent, admitted answer received)
    }
    pool = list(tokens)
    persons = iter(range(first_person, first_person + 10**7))
    deadline = time.perf_counter() + seconds

    async def ask(
        http: Http, visitor: dict, step: str, method: str, path: str, body=None, extra=b""
    ):
        """The request's answer (status, data), or None when time ran out waiting for one."""
        unanswered = False
        while True:
            head = extra
            if visitor.get("pass"):
                head += b"X-Queue-Pass: %s\r\n" % visitor["pass"].encode()
            elif visitor.get("ticket"):
                head += b"X-Queue-Ticket: %s\r\n" % visitor["ticket"].encode()
            began = time.perf_counter()
            limit = deadline + (grace if unanswered and step == "book" else 0)
            try:
                status, data, headers = await http.request(method, path, body, head)
            except (OSError, asyncio.IncompleteReadError):
                http.close()
                stats["unanswered"][step] += 1
                if step == "book" and not unanswered:
                    stats["book_unanswered"] += 1
                unanswered = True
                if time.perf_counter() + 0.5 > deadline + (grace if step == "book" else 0):
                    return None
                await asyncio.sleep(0.5)
                continue
            now = time.perf_counter()
            stats["requests"] += 1
            if "x-queue-pass" in headers:
                visitor["pass"] = headers["x-queue-pass"]
            if status == 503 and "x-queue-ticket" in headers:
                stats["room_answers"] += 1
                visitor["ticket"] = headers["x-queue-ticket"]
                visitor["refused"] = began
                wait = float(headers.get("retry-after") or 1)
                if now + wait > limit:
                    return None
                await asyncio.sleep(wait)
                continue
            if "refused" in visitor and "admitted" not in visitor:
                visitor["admitted"] = now
            stats["latency"][step].append(now - began)
            stats["answered"].append((now, now - began))
            if status >= 500:
                kind = "with Retry-After" if "retry-after" in headers else "without Retry-After"
                stats["server_errors"][f"{step}: {status} {kind}"] += 1
                stats["server_errors_at"].append(now)
                if status != 503:
                    stats["errors"].append(f"{step}: HTTP {status} {data[:400]!r}")
                wait = float(headers.get("retry-after") or 1)
                if now + wait > limit:
                    return None
                await asyncio.sleep(wait)
                continue
            if unanswered and step == "book" and status == 201:
                stats["book_recovered"] += 1
            return status, data

    def refused(step: str, status: int, data: bytes) -> bool:
        """A 409 is a refusal (counted by code); anything else unexpected is an error."""
        try:
            answer = json.loads(data)
        except ValueError:
            answer = {}
        if status == 409 and isinstance(answer, dict):
            code = answer.get("code", "?")
            reason = answer.get("reason")
            stats["refusals"][f"{step}: {code}" + (f" ({reason})" if reason else "")] += 1
            return True
        stats["errors"].append(f"{step}: HTTP {status} {data[:400]!r}")
        return False

    def gave_up(visitor: dict) -> str:
        """Time ran out: still in the waiting room (told to come back), or unanswered."""
        waiting = "refused" in visitor and "admitted" not in visitor
        return "told to come back" if waiting else "no answer"

    async def person(
        http: Http, visitor: dict, rng: random.Random, token: str, n: int, skip: set
    ) -> str:
        """One person, from search to booking. Returns why they stopped."""
        home = rng.choice(homes)
        while time.perf_counter() < deadline:
            path = "/api/v1/sites?" + urlencode(search_query(home))
            if (answer := await ask(http, visitor, "search", "GET", path)) is None:
                return gave_up(visitor)
            status, data = answer
            if status != 200:
                refused("search", status, data)
                return "error"
            sites = [
                r
                for r in json.loads(data)["results"]
                if r["available_slots"] > 0 and r["id"] not in skip
            ]
            if not sites:
                return "nothing left"
            site = rng.choice(sites[:3])  # most people take one of the nearest
            # Search's answer names the site's next free slots: the person picks one and
            # holds "a place at this site and time", which the server moves to the next
            # free one of the day if it has just filled (the answer may be a second old).
            free = [s for s in site["next_slots"] if s["available"] > 0]
            if not free:
                stats["refusals"]["search: no next slot listed"] += 1
                continue
            place = {"site_id": site["id"], "start": rng.choice(free)["start"], "vaccine": VACCINE}
            if (answer := await ask(http, visitor, "hold", "POST", "/api/v1/holds", place)) is None:
                return gave_up(visitor)
            status, data = answer
            hold = None
            if status == 201:
                hold = json.loads(data)
            elif not refused("hold", status, data):
                return "error"
            elif b"dose2_unavailable" in data:
                skip.add(site["id"])
            if hold is None:
                continue
            key = b"Idempotency-Key: %s\r\n" % str(uuid.uuid4()).encode()
            body = booking_body(hold["id"], token, n)
            if (
                answer := await ask(http, visitor, "book", "POST", "/api/v1/bookings", body, key)
            ) is None:
                return "no answer"
            status, data = answer
            if status == 201:
                answer = json.loads(data)
                stats["confirmed"] += 1
                stats["done_at"].append(time.perf_counter())
                stats["references"].append(answer["reference"])
                return "booked"
            if not refused("book", status, data):
                return "error"
            if b"already_booked" in data:
                return "already booked"
        return "time cap"

    async def client(number: int) -> None:
        http = Http(port)
        rng = random.Random(seed * 1000 + number)
        skip: set = set()
        try:
            while pool:
                visitor: dict = {}  # each person a new visitor of the waiting room
                outcome = await person(http, visitor, rng, pool.pop(), next(persons), skip)
                if "refused" in visitor:
                    ticket = ticket_read(visitor["ticket"])
                    stats["queued"].append(
                        (
                            ticket.store if ticket else "?",
                            ticket.number if ticket else 0,
                            visitor["refused"],
                            visitor.get("admitted"),
                        )
                    )
                if outcome != "booked" or one_each:
                    stats["stopped"][outcome] += 1
                    break
            else:
                stats["out_of_contacts"] += 1
        except (OSError, asyncio.IncompleteReadError) as error:
            stats["errors"].append(f"connection: {error!r}")
        finally:
            stats["connections"] += http.opened
            http.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return stats


def client_process(
    port, tokens, homes, clients, seed, seconds, first_person, go, queue, release
) -> None:
    go.wait()
    stats = asyncio.run(
        run_clients(
            port,
            tokens=tokens,
            homes=homes,
            clients=clients,
            seed=seed,
            seconds=seconds,
            first_person=first_person,
        )
    )
    stats["ended"] = time.perf_counter()
    queue.put(stats)
    release.wait(60)  # alive until the CPU snapshot has counted this process


def rush_over_http(
    args,
    port: int,
    world: dict,
    *,
    clients: int,
    seconds: float,
    tokens: list[str],
    first_person: int = 0,
    during=None,
) -> dict:
    """The crowd in `args.client_processes` processes; `during(started)`, if given, runs in
    this process meanwhile (a fault) and its answer is returned as "fault"."""
    ctx = multiprocessing.get_context("fork")
    go, release, queue = ctx.Event(), ctx.Event(), ctx.Queue()
    count = min(args.client_processes, clients)
    share = [clients // count] * count
    for i in range(clients % count):
        share[i] += 1
    processes = []
    for i, crowd in enumerate(share):
        process = ctx.Process(
            target=client_process,
            args=(
                port,
                tokens[i::count],
                world["homes"],
                crowd,
                args.seed + first_person + i,
                seconds,
                first_person + i * 10**6,
                go,
                queue,
                release,
            ),
            daemon=True,
        )
        process.start()
        processes.append(process)
    time.sleep(0.5)
    sampler, ticks = CpuSampler(), cpu_ticks()
    started = time.perf_counter()
    go.set()
    fault = during(started) if during else None
    parts = [queue.get(timeout=seconds + 180) for _ in processes]
    ended = max(p["ended"] for p in parts)
    cpu = sampler.finish(client_pids={p.pid for p in processes})
    release.set()
    for process in processes:
        process.join(timeout=10)
    merged = {
        "latency": {step: [x for p in parts for x in p["latency"][step]] for step in STEPS},
        "done_at": sorted(t for p in parts for t in p["done_at"]),
        "answered": sorted(x for p in parts for x in p["answered"]),
        "server_errors_at": sorted(t for p in parts for t in p["server_errors_at"]),
    }
    for name in ("refusals", "stopped", "server_errors", "unanswered"):
        merged[name] = sum((Counter(p[name]) for p in parts), Counter())
    for name in ("errors", "references", "queued"):
        merged[name] = [x for p in parts for x in p[name]]
    for name in (
        "confirmed",
        "connections",
        "requests",
        "out_of_contacts",
        "book_unanswered",
        "book_recovered",
        "room_answers",
    ):
        merged[name] = sum(p[name] for p in parts)
    merged["clients"] = clients
    merged["started"] = started
    merged["seconds"] = ended - started
    merged["rate"] = merged["confirmed"] / merged["seconds"]
    merged["steady"] = steady_rate(merged["done_at"])
    merged["cpu"] = cpu
    merged["steal"] = steal_share(ticks)
    merged["fault"] = fault
    return merged


def steady_rate(done_at: list[float]) -> float:
    """Bookings per second between the 10th and the 90th percentile of completions."""
    if len(done_at) < 20:
        return 0.0
    low, high = done_at[len(done_at) // 10], done_at[len(done_at) * 9 // 10]
    return (len(done_at) * 8 // 10) / max(high - low, 1e-9)


def report_rush(args, rush: dict, world: dict, kind_label: str, before: float, after: float):
    cpu = rush["cpu"]
    seconds = rush["seconds"]
    n = max(rush["confirmed"], 1)
    print(
        f"rush through HTTP: {args.clients} clients in {args.client_processes} processes "
        f"(asyncio, raw HTTP/1.1), {kind_label}: {rush['confirmed']:,} series "
        f"booked in {seconds:.1f} s = {rush['rate']:.1f} bookings/s (steady, 10th-90th "
        f"percentile of completions: {rush['steady']:.1f}/s); {rush['requests']:,} requests "
        f"({rush['requests'] / seconds:.0f}/s) on {rush['connections']:,} connections"
    )
    for step in STEPS:
        values = rush["latency"][step]
        if values:
            print(
                f"  {step:>6}: {len(values):6,} requests, median {ms(statistics.median(values))}, "
                f"p90 {ms(percentile(values, 0.9))}, p99 {ms(percentile(values, 0.99))}, "
                f"max {ms(max(values))}"
            )
    refusals = ", ".join(f"{k} {v:,}" for k, v in sorted(rush["refusals"].items())) or "none"
    print(f"  refusals by reason: {refusals}")
    stopped = ", ".join(f"{k} {v}" for k, v in sorted(rush["stopped"].items()))
    print(
        f"  clients stopped: {stopped}; out of contacts: {rush['out_of_contacts']}; "
        f"unexpected answers: {len(rush['errors'])}"
    )
    for error in rush["errors"][:5]:
        print(f"    {error}")
    print(
        f"  CPU during the rush (cores of {os.cpu_count()}): server {cpu['server'] / seconds:.2f}, "
        f"database {cpu['postgres'] / seconds:.2f}, clients {cpu['clients'] / seconds:.2f}, "
        f"other {cpu['other'] / seconds:.2f}; per booking: server "
        f"{cpu['server'] / n * 1000:.1f} ms, database {cpu['postgres'] / n * 1000:.1f} ms, "
        f"clients {cpu['clients'] / n * 1000:.1f} ms; stolen by the hypervisor "
        f"{100 * rush['steal'][0] / max(rush['steal'][1], 1):.1f}%; speed check (lower is "
        f"faster) {before:.0f} ms before, {after:.0f} ms after",
        flush=True,
    )


# ---------------------------------------------------------------------------------------
# Overload and faults: what is broken mid-rush, and what the clients saw.


def fault_plan(args, kind: str, stack: dict, server_env: dict, workdir: Path, port: int):
    """(name, act) for each fault this database can be given; `act(started)` waits for a
    third of the rush, breaks something the benchmark started, and says when (times on the
    clients' clock: time.perf_counter is the system's monotonic clock)."""

    def at_one_third(started: float) -> float:
        time.sleep(max(0.0, started + args.fault_seconds / 3 - time.perf_counter()))
        return time.perf_counter()

    def worker(started):
        at = at_one_third(started)
        children = server_workers(stack["server"])
        if not children:
            raise SystemExit("no gunicorn worker to kill")
        os.kill(children[0], signal.SIGKILL)
        return {"down": at, "back": at}

    def server(started):
        at = at_one_third(started)
        os.killpg(stack["server"].pid, signal.SIGKILL)  # the master and its workers
        stack["server"].wait(timeout=10)
        stack["server"], _ = start_server(args, server_env, workdir, port)
        return {"down": at, "back": time.perf_counter()}

    pg_ctl = shlex.split(os.environ.get("CRENEAU_PG_CTL", ""))

    def pg_restart(started):
        at = at_one_third(started)
        subprocess.run(
            [*pg_ctl, "-m", "fast", "-w", "restart"], check=True, stdout=subprocess.DEVNULL
        )
        return {"down": at, "back": time.perf_counter()}

    def pg_outage(started):
        at = at_one_third(started)
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], check=True, stdout=subprocess.DEVNULL)
        time.sleep(args.outage_seconds)
        subprocess.run([*pg_ctl, "-w", "start"], check=True, stdout=subprocess.DEVNULL)
        return {"down": at, "back": time.perf_counter()}

    def redis_stop(started):
        at = at_one_third(started)
        stack["redis"].terminate()
        stack["redis"].wait(timeout=15)
        return {"down": at, "back": None}  # not restarted: the service goes on without it

    plan = [
        ("kill -9 of one gunicorn worker", worker),
        ("kill -9 of gunicorn (master and workers), restarted", server),
    ]
    if kind == "postgres":
        if pg_ctl:
            plan += [
                ("PostgreSQL restarted (pg_ctl restart -m fast)", pg_restart),
                (f"PostgreSQL stopped {args.outage_seconds:g} s, then started", pg_outage),
            ]
        else:
            print(
                "PostgreSQL faults skipped: the server is not the benchmark's own "
                "(DATABASE_URL or TEST_DATABASE_URL named one)",
                flush=True,
            )
    if stack["redis"] is not None:
        plan.append(("Redis stopped (not restarted)", redis_stop))
    return plan


def server_workers(server) -> list[int]:
    path = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def bookings_lost(references: list[str]) -> int:
    """Bookings answered 201 whose series is not in the database."""
    from creneau.booking.models import Series

    references = [r.replace("-", "") for r in references]  # as the API shows them
    found = 0
    for i in range(0, len(references), 500):
        found += Series.objects.filter(reference__in=references[i : i + 500]).count()
    return len(set(references)) - found


def admitted_latency(phase: dict) -> list[float]:
    """Every request that was answered (not the waiting room's 503s)."""
    return [x for step in STEPS for x in phase["latency"][step]]


def queue_order(queued: list[tuple]) -> dict:
    """Admissions against the tickets' order, per store that numbered them. `seen`: pairs
    of admitted visitors whose admission answers came in the other order than their
    tickets (a client polls every Retry-After, so some are the clients' own doing);
    `server`: pairs where the later ticket was admitted before the earlier one was last
    refused (sent), which only the server can cause."""
    import bisect

    seen = server = pairs = 0
    for store in {q[0] for q in queued}:
        tickets = sorted((n, refused, admitted) for s, n, refused, admitted in queued if s == store)
        later_admitted: list[float] = []
        for _, refused, admitted in reversed(tickets):
            server += bisect.bisect_left(later_admitted, refused)
            if admitted is not None:
                seen += bisect.bisect_left(later_admitted, admitted)
                pairs += len(later_admitted)
                bisect.insort(later_admitted, admitted)
    return {"seen": seen, "server": server, "pairs": pairs}


def phase_summary(phase: dict) -> dict:
    latency = admitted_latency(phase)
    fault = phase["fault"] or {}
    back = fault.get("back")
    again = next((t for t in phase["done_at"] if back is not None and t >= back), None)
    stopped = phase["stopped"]
    return {
        "clients": phase["clients"],
        "seconds": phase["seconds"],
        "confirmed": phase["confirmed"],
        "rate": phase["rate"],
        "steady": phase["steady"],
        "p99": percentile(latency, 0.99) if latency else None,
        "server_errors": dict(phase["server_errors"]),
        "errors_500": sum(
            n for k, n in phase["server_errors"].items() if "503 with Retry-After" not in k
        ),
        "room_answers": phase["room_answers"],
        "queued": len(phase["queued"]),
        "admitted": sum(q[3] is not None for q in phase["queued"]),
        "order": queue_order(phase["queued"]),
        "unanswered": dict(phase["unanswered"]),
        "book_unanswered": phase["book_unanswered"],
        "book_recovered": phase["book_recovered"],
        "lost": phase["lost"],
        "stopped": dict(stopped),
        "neither": stopped["error"] + stopped["no answer"],
        "recovery": None if again is None else again - back,
        "database_back": back is not None and "PostgreSQL" in fault.get("name", ""),
    }


TIMELINE_SECONDS = 10


def room_sampler(port: int, seconds: float):
    """`during` for the overload: the room's admission rate and queue, read from /metrics
    every TIMELINE_SECONDS / 2 in a thread while the phase runs (the phase's "fault" holds
    them as "room"): what the measured-capacity mode did, beside what the clients saw."""

    def read() -> tuple[float, float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        found = dict(re.findall(r"^creneau_waiting_room_(rate|queue_length) (\S+)$", text, re.M))
        return float(found["rate"]), float(found["queue_length"])

    def during(started: float) -> dict:
        samples: list = []

        def sample() -> None:
            while not samples or samples[-1][0] < seconds:
                samples.append((time.perf_counter() - started, *read()))
                time.sleep(TIMELINE_SECONDS / 2)

        threading.Thread(target=sample, daemon=True).start()
        return {"room": samples}

    return during


def room_timeline(samples: list) -> str:
    return ", ".join(
        f"{at:.0f}s {rate:,.0f}/min ({queue:,.0f} waiting)" for at, rate, queue in list(samples)
    )


def timeline(phase: dict) -> str:
    """Bookings a second and the p99 of answered requests, window by window: where the
    slow answers of a phase were (a crowd's first seconds, a rate overshooting)."""
    windows: dict[int, list[float]] = defaultdict(list)
    for when, latency in phase["answered"]:
        windows[int((when - phase["started"]) // TIMELINE_SECONDS)].append(latency)
    booked = Counter(int((t - phase["started"]) // TIMELINE_SECONDS) for t in phase["done_at"])
    return ", ".join(
        f"{n * TIMELINE_SECONDS}s {booked[n] / TIMELINE_SECONDS:.0f}/s "
        f"p99 {ms(percentile(windows[n], 0.99))}"
        for n in sorted(windows)
    )


def report_overload(phase: dict, normal: dict, *, room_rate: int | str, factor: int) -> None:
    s = phase_summary(phase)
    order = s["order"]
    errors = ", ".join(f"{k} {v}" for k, v in sorted(s["server_errors"].items())) or "none"
    stopped = ", ".join(f"{k} {v}" for k, v in sorted(s["stopped"].items()))
    print(
        f"overload x{factor}: {s['clients']} clients for {s['seconds']:.0f} s, waiting room at "
        f"{room_rate} people a minute (the normal load's rate x 60 x margin): "
        f"{s['confirmed']:,} booked = {s['rate']:.1f}/s (steady {s['steady']:.1f}/s), "
        f"{s['rate'] / normal['rate']:.0%} of the normal load's {normal['rate']:.1f}/s "
        f"(goal 90%)\n"
        f"  5xx other than the waiting room's 503: {errors} (goal 0); p99 of answered "
        f"requests {ms(s['p99'] or 0)} (goal < 1 s); waiting room answers {s['room_answers']:,}\n"
        f"  queued visitors {s['queued']:,}, admitted {s['admitted']:,}; admissions out of "
        f"ticket order: {order['server']} caused by the server (goal 0), {order['seen']} of "
        f"{order['pairs']:,} pairs as the clients saw them (they poll every Retry-After)\n"
        f"  persons: {stopped}; neither served nor told to come back: {s['neither']} (goal 0)",
        flush=True,
    )
    refusals = ", ".join(f"{k} {v:,}" for k, v in sorted(phase["refusals"].items())) or "none"
    steps = ", ".join(
        f"{step} {len(values):,} (p99 {ms(percentile(values, 0.99))})"
        for step, values in phase["latency"].items()
        if values
    )
    print(
        f"  {phase['requests']:,} requests ({phase['requests'] / s['seconds']:.0f}/s): {steps}; "
        f"refusals: {refusals}",
        flush=True,
    )
    print(f"  by {TIMELINE_SECONDS} s: {timeline(phase)}", flush=True)
    print(f"  the room's rate: {room_timeline(phase['fault']['room'])}", flush=True)
    for error in phase["errors"][:5]:
        print(f"    {error}")


def report_fault(name: str, phase: dict) -> None:
    phase["fault"]["name"] = name
    s = phase_summary(phase)
    errors = ", ".join(f"{k} {v}" for k, v in sorted(s["server_errors"].items())) or "none"
    unanswered = ", ".join(f"{k} {v}" for k, v in sorted(s["unanswered"].items())) or "none"
    recovery = (
        ""
        if phase["fault"]["back"] is None
        else "; first booking after it was back: "
        + (f"{s['recovery']:.1f} s" if s["recovery"] is not None else "never")
        + (" (goal 5 s)" if s["database_back"] else "")
    )
    print(
        f"fault, {name}: {s['confirmed']:,} booked in {s['seconds']:.0f} s "
        f"({s['rate']:.1f}/s), {s['lost']} answered 201 but not in the database (goal 0); "
        f"bookings without an answer {s['book_unanswered']}, recovered with the same "
        f"Idempotency-Key {s['book_recovered']}; requests without an answer: {unanswered}\n"
        f"  5xx: {errors} (goal: only 503 with Retry-After){recovery}; neither served nor "
        f"told to come back: {s['neither']}",
        flush=True,
    )
    for error in phase["errors"][:3]:
        print(f"    {error}")


# ---------------------------------------------------------------------------------------
# The raw SQL limit: the same reads and transactions, by hand, no Django, no HTTP.


class RawSQL:
    """The booking path's statements for one connection, PostgreSQL or SQLite."""

    def __init__(self, kind: str, target: str, world: dict, *, conn=None) -> None:
        """On `target`'s database, or on `conn`, an open DB-API connection in autocommit
        mode (tests/bench/test_raw_workload.py passes Django's own)."""
        self.kind = kind
        self.vaccine = world["vaccine"]
        self.rule_id = world["rule_id"]
        if conn is not None:
            self.conn = conn
        elif kind == "postgres":
            import psycopg

            self.conn = psycopg.connect(pg_dsn(target), autocommit=True)
        else:
            import sqlite3

            self.conn = sqlite3.connect(target, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
        self.cur = self.conn.cursor()

    # Values as each database stores them (SQLite: Django's text forms).
    def ts(self, value: datetime):
        if self.kind == "postgres":
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

    def day(self, value):
        if self.kind == "postgres":
            return value
        return value.isoformat() if isinstance(value, date) else value

    def to_date(self, value) -> date:
        return value if isinstance(value, date) else date.fromisoformat(value)

    def uid(self, value):
        return value if self.kind == "postgres" else value.hex

    def json(self, value):
        if self.kind == "postgres":
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value)

    def q(self, sql: str, params=()):
        if self.kind == "sqlite":
            sql = sql.replace("%s", "?").replace(" FOR UPDATE", "")
        self.cur.execute(sql, params)
        return self.cur

    @contextlib.contextmanager
    def transaction(self):
        if self.kind == "postgres":
            with self.conn.transaction():
                yield
        else:
            self.cur.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.cur.execute("ROLLBACK")
                raise
            self.cur.execute("COMMIT")

    def search(self, now: datetime) -> dict[int, int]:
        rows = self.q(
            "SELECT d.site_id, SUM(d.free), MIN(d.first_free_start) "
            "FROM scheduling_dayavailability d JOIN sites_site s ON s.id = d.site_id "
            "WHERE s.status = 'published' AND d.vaccine_id = %s AND d.dose_number = 1 "
            "AND d.free > 0 AND d.last_free_start >= %s GROUP BY d.site_id",
            (self.vaccine["id"], self.ts(now)),
        ).fetchall()
        return {site_id: free for site_id, free, _ in rows}

    def next_slots(self, site_ids: list[int], now: datetime) -> dict[int, list[tuple]]:
        """Search's next free slots of the nearest sites, up to 8 each: {site: [(id, date,
        start)]} (the application reads them with the same answer)."""
        marks = ", ".join(["%s"] * len(site_ids))
        rows = self.q(
            "SELECT site_id, id, date, start FROM (SELECT site_id, id, date, start, "
            "ROW_NUMBER() OVER (PARTITION BY site_id ORDER BY start, id) AS n "
            f"FROM scheduling_slot WHERE site_id IN ({marks}) AND vaccine_id = %s "
            "AND dose_number = 1 AND booked < capacity AND start >= %s) AS free WHERE n <= 8 "
            "ORDER BY start, id",
            (*site_ids, self.vaccine["id"], self.ts(now)),
        ).fetchall()
        listed: dict[int, list[tuple]] = defaultdict(list)
        for site_id, *slot in rows:
            listed[site_id].append(tuple(slot))
        return listed

    def slots_from(self, site_id: int, day, start, now: datetime) -> list[int]:
        """Like hold_create_at: the site is public, then its free first-dose slots of the
        day from that time on, where the hold looks for its place."""
        if not self.q(
            "SELECT 1 FROM sites_site WHERE id = %s AND status = 'published'", (site_id,)
        ).fetchone():
            return []
        rows = self.q(
            "SELECT s.id FROM scheduling_slot s JOIN scheduling_session se ON se.id = s.session_id "
            "WHERE s.site_id = %s AND s.vaccine_id = %s AND s.dose_number = 1 AND s.date = %s "
            "AND s.start >= %s AND s.booked < s.capacity AND se.status = 'open' "
            "ORDER BY s.start, s.id LIMIT 8",
            (site_id, self.vaccine["id"], day, max(start, self.ts(now))),
        ).fetchall()
        return [slot_id for (slot_id,) in rows]

    def _read_model(self, key: tuple, delta: int, recount: bool) -> None:
        """The application's read-model statements (scheduling.sql), in the same order."""
        from creneau.scheduling.sql import READ_MODEL_DELTA, READ_MODEL_LOCK, READ_MODEL_RECOUNT

        day = (*key[:3], self.day(key[3]))
        if not recount:
            self.q(READ_MODEL_DELTA, (delta, *day))
            return
        if self.kind == "postgres":
            self.q(f"{READ_MODEL_LOCK} FOR UPDATE", day)
        self.q(READ_MODEL_RECOUNT, (delta, *day, *day, *day))

    def _take(self, slot_id: int, now: datetime, **conditions) -> tuple | None:
        """The application's place taken (scheduling.sql.slot_take_sql): (site, vaccine,
        dose, date, free after) or None."""
        from creneau.scheduling.sql import slot_take_sql

        sql, names = slot_take_sql(conditions)
        row = self.q(sql, (slot_id, self.ts(now), *(conditions[n] for n in names))).fetchone()
        if row is None:
            return None
        _id, _session, site_id, vaccine_id, dose, day, *_times, capacity, booked = row
        return site_id, vaccine_id, dose, self.to_date(day), capacity - booked

    def hold(self, slot_id: int, now: datetime):
        """Like hold_create: check the slot, find dose-2 options, then take both places,
        with the application's statements where they carry a rule."""
        from creneau.scheduling.sql import dose2_options_sql

        vaccine = self.vaccine
        row = self.q(
            "SELECT s.site_id, s.date, s.start, s.dose_number, se.status, si.status "
            "FROM scheduling_slot s JOIN scheduling_session se ON se.id = s.session_id "
            "JOIN sites_site si ON si.id = s.site_id WHERE s.id = %s",
            (slot_id,),
        ).fetchone()
        site_id, day = row[0], self.to_date(row[1])
        at = self.ts(now)
        options = [
            option_id
            for option_id, *_ in self.q(
                dose2_options_sql(postgresql=self.kind == "postgres"),
                (
                    self.day(day + timedelta(days=vaccine["rec"])),
                    site_id,
                    vaccine["id"],
                    self.day(day + timedelta(days=vaccine["min"])),
                    self.day(day + timedelta(days=vaccine["max"])),
                    at,
                    3,
                    site_id,
                    vaccine["id"],
                    at,
                ),
            ).fetchall()
        ][:8]
        if not options:
            return None, "dose2_unavailable"
        try:
            with self.transaction():
                taken = self._take(slot_id, now, dose_number=1)
                if taken is None:
                    raise Refused("slot_unavailable")
                dose2 = None
                for option in options:
                    dose2 = self._take(option, now, dose_number=2)
                    if dose2 is not None:
                        break
                if dose2 is None:
                    raise Refused("dose2_unavailable")
                hold_id = uuid.uuid4()
                self.q(
                    "INSERT INTO booking_hold (id, expires_at, created_at, dose2_slot_id, slot_id, "
                    "client, address) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        self.uid(hold_id),
                        self.ts(now + timedelta(minutes=10)),
                        self.ts(now),
                        option,
                        slot_id,
                        # Who holds: the API's caller and address, as the app counts them.
                        f"api:{CLIENT_ADDRESS}",
                        CLIENT_ADDRESS,
                    ),
                )
                self._read_model(taken[:4], -1, taken[4] == 0)
                self._read_model(dose2[:4], -1, dose2[4] == 0)
            return hold_id, None
        except Refused as refusal:
            return None, refusal.code

    def book(self, hold_id: uuid.UUID, contact: tuple[int, str], n: int, now: datetime):
        """Like booking_confirm: contact lock, replay check, the hold, person, series,
        appointments, outbox row, idempotency key."""
        from creneau.booking.ages import age_band
        from creneau.booking.persons import person_index, person_name_index
        from creneau.core.crypto import value_encrypt
        from creneau.outreach.models import notification_to_index

        contact_id, address = contact
        key = str(uuid.uuid4())
        given, family = f"Personne{n}", "Ruée"
        born = BIRTH + timedelta(days=n % 3650)
        # Personal data sealed and indexed as the application does (core.crypto), so
        # that the raw limit pays for the encryption too.
        match_key = person_index(given_name=given, family_name=family, birth_date=born)
        name_index = person_name_index(family_name=family, birth_date=born)

        def sealed(value: str, column: str) -> str:
            return value_encrypt(value, purpose=column)

        request_hash = secrets.token_hex(32)
        with self.transaction():
            # One booking at a time per contact, then the replay check under that lock.
            self.q(
                "SELECT id FROM booking_contact WHERE id = %s FOR UPDATE", (contact_id,)
            ).fetchone()
            self.q(
                "SELECT series_id, request_hash FROM booking_idempotencykey "
                "WHERE contact_id = %s AND key = %s",
                (contact_id, key),
            ).fetchone()
            hold = self.q(
                "SELECT h.slot_id, h.dose2_slot_id, h.expires_at, s.site_id, s.start, s.date, "
                "se.status, d2.start, si.name, si.address, si.postcode FROM booking_hold h "
                "JOIN scheduling_slot s ON s.id = h.slot_id "
                "JOIN scheduling_session se ON se.id = s.session_id "
                "JOIN sites_site si ON si.id = s.site_id "
                "LEFT JOIN scheduling_slot d2 ON d2.id = h.dose2_slot_id WHERE h.id = %s",
                (self.uid(hold_id),),
            ).fetchone()
            self.q(
                "SELECT id FROM booking_person WHERE contact_id = %s AND match_key = %s",
                (contact_id, match_key),
            ).fetchone()
            deleted = self.q(
                "DELETE FROM booking_hold WHERE id = %s AND expires_at > %s",
                (self.uid(hold_id), self.ts(now)),
            ).rowcount
            if not deleted:
                raise RuntimeError("raw hold expired")
            self.q(
                "SELECT COUNT(*) FROM booking_person WHERE contact_id = %s", (contact_id,)
            ).fetchone()
            person_id = self.q(
                "INSERT INTO booking_person (given_name, family_name, birth_date, categories, "
                "match_key, name_index, created_at, contact_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    sealed(given, "booking_person.given_name"),
                    sealed(family, "booking_person.family_name"),
                    sealed(born.isoformat(), "booking_person.birth_date"),
                    sealed("[]", "booking_person.categories"),
                    match_key,
                    name_index,
                    self.ts(now),
                    contact_id,
                ),
            ).fetchone()[0]
            alphabet = string.ascii_uppercase + string.digits
            reference = "".join(secrets.choice(alphabet) for _ in range(9))
            series_id = self.q(
                "INSERT INTO booking_series (reference, token_salt, person_key, status, "
                "version, override_reason, cancel_reason, dose1_elsewhere_declared_by, "
                "age_band, created_at, updated_at, contact_id, eligibility_rule_id, person_id, "
                "site_id, vaccine_id) VALUES "
                "(%s, %s, %s, 'active', 1, '', '', '', %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                (
                    reference,
                    secrets.token_hex(8),
                    match_key,
                    age_band(birth_date=born, on=date.fromisoformat(str(hold[5]))),
                    self.ts(now),
                    self.ts(now),
                    contact_id,
                    self.rule_id,
                    person_id,
                    hold[3],
                    self.vaccine["id"],
                ),
            ).fetchone()[0]
            self.q(
                "INSERT INTO booking_appointment (dose_number, status, created_at, updated_at, "
                "slot_id, person_id, series_id) VALUES (1, 'booked', %s, %s, %s, %s, %s), "
                "(2, 'booked', %s, %s, %s, %s, %s)",
                (
                    self.ts(now),
                    self.ts(now),
                    hold[0],
                    person_id,
                    series_id,
                    self.ts(now),
                    self.ts(now),
                    hold[1],
                    person_id,
                    series_id,
                ),
            )
            # The message as the service writes it: template parameters and the key its
            # link is derived from (the text is made by the worker, not here).
            parameters = {
                "reference": f"{reference[:4]}-{reference[4:8]}-{reference[8:]}",
                "person_name": f"{given} {family}",
                "site_name": hold[8],
                "site_address": ", ".join(part for part in (hold[9], hold[10]) if part),
                "appointments": [
                    {"dose_number": 1, "when": str(hold[4])},
                    {"dose_number": 2, "when": str(hold[7])},
                ],
            }
            self.q(
                'INSERT INTO outreach_notification (channel, "to", to_index, kind, event, '
                "language, parameters, derived, status, priority, fallbacks, attempts, "
                "created_at, next_attempt_at, last_error) VALUES ('sms', %s, %s, "
                "'booking_confirmed', %s, 'fr', %s, %s, 'pending', 1, %s, 0, %s, %s, '')",
                (
                    sealed(address, "outreach_notification.to"),
                    notification_to_index(address),
                    f"series:{reference}:v1:booking_confirmed",
                    sealed(
                        json.dumps(parameters, ensure_ascii=False, separators=(",", ":")),
                        "outreach_notification.parameters",
                    ),
                    self.json({"manage_url": ["management_link", reference]}),
                    sealed("[]", "outreach_notification.fallbacks"),  # no other channel
                    self.ts(now),
                    self.ts(now),
                ),
            )
            self.q(
                "INSERT INTO booking_idempotencykey (key, request_hash, created, created_at, "
                "contact_id, series_id) VALUES (%s, %s, TRUE, %s, %s, %s)",
                (key, request_hash, self.ts(now), contact_id, series_id),
            )
        return reference


CLIENT_ADDRESS = "127.0.0.1"  # every simulated person's


class Refused(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


def raw_worker(kind, target, world, contacts, number, seed, seconds, go, queue, release) -> None:
    raw = RawSQL(kind, target, world)
    rng = random.Random(seed)
    sites = world["site_positions"]
    homes = world["home_positions"]
    stats = {
        "hold": [],
        "book": [],
        "refusals": Counter(),
        "confirmed": 0,
        "done_at": [],
        "errors": [],
    }
    go.wait()
    deadline = time.perf_counter() + seconds
    n = number * 10**6
    try:
        while contacts and time.perf_counter() < deadline:
            home = rng.choice(homes)
            now = datetime.now(UTC)
            free = raw.search(now)
            if not free:
                break
            near = sorted(
                (s for s in sites if s[0] in free),
                key=lambda s: (s[1] - home[0]) ** 2 + ((s[2] - home[1]) * 0.66) ** 2,
            )[:10]
            listed = raw.next_slots([site[0] for site in near], now)
            site_id = rng.choice(near[:3])[0]
            if not listed.get(site_id):
                continue
            _, day, start = rng.choice(listed[site_id])
            for slot_id in raw.slots_from(site_id, day, start, datetime.now(UTC)):
                began = time.perf_counter()
                hold_id, refusal = raw.hold(slot_id, datetime.now(UTC))
                stats["hold"].append(time.perf_counter() - began)
                if hold_id is None:
                    stats["refusals"][f"hold: {refusal}"] += 1
                    if refusal == "dose2_unavailable":
                        break
                    continue
                began = time.perf_counter()
                raw.book(hold_id, contacts.pop(), n, datetime.now(UTC))
                n += 1
                stats["book"].append(time.perf_counter() - began)
                stats["confirmed"] += 1
                stats["done_at"].append(time.perf_counter())
                break
    except Exception as error:  # reported, not hidden
        stats["errors"].append(repr(error))
    stats["ended"] = time.perf_counter()
    queue.put(stats)
    release.wait(60)  # the connection (and its server process) lives until counted


def rush_raw_sql(args, kind: str, target: str, world: dict) -> dict:
    ctx = multiprocessing.get_context("fork")
    go, release, queue = ctx.Event(), ctx.Event(), ctx.Queue()
    contacts = world["contacts"]
    workers = args.raw_connections
    processes = []
    for i in range(workers):
        process = ctx.Process(
            target=raw_worker,
            args=(
                kind,
                target,
                world,
                list(contacts[i::workers]),
                i,
                args.seed + 100 + i,
                args.seconds,
                go,
                queue,
                release,
            ),
            daemon=True,
        )
        process.start()
        processes.append(process)
    time.sleep(0.5)
    sampler = CpuSampler()
    started = time.perf_counter()
    go.set()
    parts = [queue.get(timeout=args.seconds + 120) for _ in processes]
    cpu = sampler.finish(client_pids={p.pid for p in processes})
    release.set()
    for process in processes:
        process.join(timeout=10)
    seconds = max(p["ended"] for p in parts) - started
    confirmed = sum(p["confirmed"] for p in parts)
    done_at = sorted(t for p in parts for t in p["done_at"])
    return {
        "kind": kind,
        "workers": workers,
        "confirmed": confirmed,
        "seconds": seconds,
        "rate": confirmed / seconds,
        "steady": steady_rate(done_at),
        "hold": [x for p in parts for x in p["hold"]],
        "book": [x for p in parts for x in p["book"]],
        "refusals": sum((Counter(p["refusals"]) for p in parts), Counter()),
        "errors": [e for p in parts for e in p["errors"]],
        "cpu": cpu,
    }


def report_raw(raw: dict) -> None:
    driver = "psycopg" if raw["kind"] == "postgres" else "sqlite3"
    seconds = raw["seconds"]
    print(
        f"raw SQL limit ({raw['workers']} processes, one {driver} connection each, same reads "
        f"and transactions, no Django, no HTTP, on a copy of the same slots): "
        f"{raw['confirmed']:,} series in {seconds:.1f} s = {raw['rate']:.1f} bookings/s "
        f"(steady {raw['steady']:.1f}/s)"
    )
    for step in ("hold", "book"):
        values = raw[step]
        if values:
            print(
                f"  {step} transaction: median {ms(statistics.median(values))}, "
                f"p99 {ms(percentile(values, 0.99))}"
            )
    refusals = ", ".join(f"{k} {v:,}" for k, v in sorted(raw["refusals"].items())) or "none"
    cpu = raw["cpu"]
    print(
        f"  refusals: {refusals}; errors: {len(raw['errors'])} {raw['errors'][:3]}; CPU "
        f"(cores): database {cpu['postgres'] / seconds:.2f}, SQL clients "
        f"{cpu['clients'] / seconds:.2f}, other {cpu['other'] / seconds:.2f}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------
# Invariants, recounted from the rows.


def check_invariants(*, expected_series: int, references: list[str] | None) -> int:
    from django.db.models import Count, F, Max, Min, Sum

    from creneau.booking.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Hold, Series
    from creneau.outreach.models import Notification
    from creneau.scheduling.models import DayAvailability, Slot
    from creneau.vaccines.models import Stock, Vaccine

    checks: list[tuple[str, int]] = []

    checks.append(
        ("slots booked beyond capacity", Slot.objects.filter(booked__gt=F("capacity")).count())
    )
    checks.append(
        (
            "stock rows with committed + given > delivered",
            Stock.objects.filter(delivered__lt=F("committed") + F("given")).count(),
        )
    )
    promised = {
        (site, vaccine_id): doses
        for site, vaccine_id, doses in Slot.objects.values("site_id", "vaccine_id")
        .annotate(doses=Sum(F("capacity") * F("session__doses_per_place")))
        .values_list("site_id", "vaccine_id", "doses")
    }
    ledger = sum(
        committed != promised.get((site, vaccine_id), 0)
        for site, vaccine_id, committed in Stock.objects.values_list(
            "site_id", "vaccine_id", "committed"
        )
    )
    checks.append(("stock rows whose committed differs from open capacity x doses", ledger))

    vaccines = {v.pk: v for v in Vaccine.objects.all()}
    series = {
        pk: (site, vaccine_id, person)
        for pk, site, vaccine_id, person in Series.objects.filter(status="active").values_list(
            "pk", "site_id", "vaccine_id", "person_id"
        )
    }
    by_series: dict[int, list] = defaultdict(list)
    orphans = 0
    for series_id, person, dose, site, day in Appointment.objects.filter(
        status__in=ACTIVE_APPOINTMENT_STATUSES
    ).values_list("series_id", "person_id", "dose_number", "slot__site_id", "slot__date"):
        if series_id not in series or series[series_id][2] != person:
            orphans += 1
        by_series[series_id].append((dose, site, day))
    shape = 0
    for pk, (site, vaccine_id, _) in series.items():
        vaccine = vaccines[vaccine_id]
        appointments = by_series.get(pk, [])
        doses = sorted(a[0] for a in appointments)
        if vaccine.doses_in_series == 2:
            if doses != [1, 2]:
                shape += 1
                continue
            first = next(a for a in appointments if a[0] == 1)
            second = next(a for a in appointments if a[0] == 2)
            gap = (second[2] - first[2]).days
            if not (
                first[1] == second[1] == site
                and vaccine.interval_min_days <= gap <= vaccine.interval_max_days
            ):
                shape += 1
        elif doses != [1]:
            shape += 1
    checks.append(
        (
            "active 2-dose series without exactly one dose 1 and one dose 2 at its site, "
            "dose 2 inside the interval",
            shape,
        )
    )
    checks.append(("active appointments outside an active series of their person", orphans))
    checks.append(
        (
            "persons with two active series",
            Series.objects.filter(status="active")
            .values("person_id")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .count(),
        )
    )

    holding: Counter = Counter()
    for slot_id, dose2_slot_id in Hold.objects.values_list("slot_id", "dose2_slot_id"):
        holding[slot_id] += 1
        if dose2_slot_id:
            holding[dose2_slot_id] += 1
    taken = Counter(
        dict(
            Appointment.objects.filter(status__in=ACTIVE_APPOINTMENT_STATUSES)
            .values("slot_id")
            .annotate(n=Count("pk"))
            .values_list("slot_id", "n")
        )
    )
    mismatch = sum(
        booked != taken[pk] + holding[pk] for pk, booked in Slot.objects.values_list("pk", "booked")
    )
    checks.append(("slots whose booked != active appointments + holds on them", mismatch))

    confirmed = Counter()
    strays = 0
    for event in Notification.objects.filter(kind="booking_confirmed").values_list(
        "event", flat=True
    ):
        match = re.match(r"series:([0-9A-Z*~$=]+):v\d+:booking_confirmed$", event)
        if match:
            confirmed[match[1]] += 1
        else:
            strays += 1
    all_series = set(Series.objects.values_list("reference", flat=True))
    notify = sum(confirmed[pk] != 1 for pk in all_series) + strays
    notify += sum(1 for pk in confirmed if pk not in all_series)
    checks.append(("series without exactly one booking_confirmed notification", notify))

    recount = {
        key[:4]: key[4:]
        for key in Slot.objects.filter(booked__lt=F("capacity"))
        .values("site_id", "vaccine_id", "dose_number", "date")
        .annotate(free=Sum(F("capacity") - F("booked")), first=Min("start"), last=Max("start"))
        .values_list("site_id", "vaccine_id", "dose_number", "date", "free", "first", "last")
    }
    keys, stale = set(), 0
    for *key, free, first, last in DayAvailability.objects.values_list(
        "site_id",
        "vaccine_id",
        "dose_number",
        "date",
        "free",
        "first_free_start",
        "last_free_start",
    ):
        keys.add(tuple(key))
        stale += (free, first, last) != recount.get(tuple(key), (0, None, None))
    slot_days = set(Slot.objects.values_list("site_id", "vaccine_id", "dose_number", "date"))
    stale += len(slot_days - keys)
    checks.append(("read-model rows whose free/first/last differ from the slots", stale))

    in_db = Series.objects.count()
    checks.append(
        (
            f"series in the database ({in_db:,}) != bookings answered 201 ({expected_series:,})",
            abs(in_db - expected_series),
        )
    )
    if references is not None:
        checks.append(("references answered twice", len(references) - len(set(references))))

    total = 0
    for name, count in checks:
        total += count
        print(f"  {count:5} {name}")
    left = Slot.objects.filter(dose_number=1, booked__lt=F("capacity")).aggregate(
        n=Sum(F("capacity") - F("booked"))
    )["n"]
    print(
        f"  total: {total} violations ({in_db:,} series, {Hold.objects.count()} holds left, "
        f"{left or 0} first-dose places left unbooked)",
        flush=True,
    )
    return total


# ---------------------------------------------------------------------------------------
# Measuring helpers.


def cpu_seconds() -> dict[int, tuple[int, str, float, int]]:
    """CPU time used so far by every process: {pid: (process group, name, seconds, parent)}."""
    tick = os.sysconf("SC_CLK_TCK")
    usage = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                raw = (entry / "stat").read_text()
                name = raw[raw.index("(") + 1 : raw.rindex(")")]
                fields = raw.rsplit(")", 1)[1].split()
                parent, group = int(fields[1]), int(fields[2])
                user, system = int(fields[11]), int(fields[12])
                usage[int(entry.name)] = (group, name, (user + system) / tick, parent)
    return usage


# The process groups of every server started (a fault starts a new one), and the
# postmaster of the benchmark's PostgreSQL: other work on the machine (another gunicorn,
# another cluster) is counted as "other", not as the server's or the database's.
SERVER_GROUP: list[int] = []
POSTMASTER: list[int] = []


class Statements:
    """Statements PostgreSQL ran, by database, from pg_stat_statements (BEGIN, COMMIT and
    SAVEPOINTs included: each is a round trip; the foreign-key checks PostgreSQL runs
    inside an insert or update left out: they are none); None when the server does not
    load it."""

    # The foreign-key triggers' own checks (SELECT 1 FROM ONLY "table" x WHERE … FOR KEY
    # SHARE OF x), which pg_stat_statements lists beside the client's statements.
    CLIENTS = "s.query NOT LIKE 'SELECT 1 FROM ONLY %%'"

    def __init__(self, base: str) -> None:
        self.base = base

    @classmethod
    def open(cls, base: str) -> "Statements | None":
        import psycopg

        try:
            with psycopg.connect(pg_dsn(base), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
        except psycopg.Error:
            print("SQL statements not counted: pg_stat_statements is not loaded", flush=True)
            return None
        return cls(base)

    def reset(self) -> None:
        pg_admin(self.base, "SELECT pg_stat_statements_reset()")

    def count(self, database: str) -> Counter:
        """Statements run in `database` since the reset, by their first word."""
        import psycopg

        with psycopg.connect(pg_dsn(self.base), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT upper(split_part(ltrim(s.query), ' ', 1)), sum(s.calls) "
                "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                f"WHERE d.datname = %s AND {self.CLIENTS} GROUP BY 1",
                (database,),
            ).fetchall()
        return Counter({verb: int(calls) for verb, calls in rows})

    def top(self, database: str, n: int = 12) -> list[tuple[int, float, str]]:
        """The `n` statements run most often in `database` since the reset: (calls,
        total ms of PostgreSQL's execution, the statement's start)."""
        import psycopg

        with psycopg.connect(pg_dsn(self.base), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT s.calls, s.total_exec_time, s.query FROM pg_stat_statements s "
                f"JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s AND {self.CLIENTS} "
                "ORDER BY s.calls DESC LIMIT %s",
                (database, n),
            ).fetchall()
        return [(int(calls), spent, " ".join(query.split())[:150]) for calls, spent, query in rows]


def postmaster_find() -> None:
    """The postmaster of the server Django's connection reaches, if it runs here: the
    parent of this connection's backend."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with contextlib.suppress(OSError, IndexError, ValueError):
        raw = Path(f"/proc/{backend}/stat").read_text()
        POSTMASTER[:] = [int(raw.rsplit(")", 1)[1].split()[1])]


class CpuSampler:
    """CPU used by every process over an interval, sampled twice a second so that a process
    that ends meanwhile (a database connection recycled after CONN_MAX_AGE) still counts."""

    def __init__(self, interval: float = 0.5) -> None:
        import threading

        self.first = cpu_seconds()
        self.last = dict(self.first)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self.thread.start()

    def _run(self, interval: float) -> None:
        while not self.stopped.wait(interval):
            self.last.update(cpu_seconds())

    def finish(self, *, client_pids: set[int]) -> dict[str, float]:
        self.stopped.set()
        self.thread.join()
        self.last.update(cpu_seconds())
        return cpu_split(self.first, self.last, client_pids=client_pids)


def cpu_split(before: dict, after: dict, *, client_pids: set[int]) -> dict[str, float]:
    """CPU seconds between two snapshots: gunicorn, the database, the load, the rest."""
    spent = defaultdict(float)
    for pid, (group, name, seconds, parent) in after.items():
        used = seconds - before.get(pid, (group, name, 0.0, parent))[2]
        ours = not POSTMASTER or POSTMASTER[0] in (pid, parent)
        if pid in client_pids:
            spent["clients"] += used
        elif name == "postgres" and ours:
            spent["postgres"] += used
        elif group in SERVER_GROUP:
            spent["server"] += used
        elif pid == os.getpid():
            spent["bench"] += used
        else:
            spent["other"] += used
    return spent


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    main()
