"""Audit events recorded per second, with and without the tamper-evident chain (issue 16).

For each database (a fresh SQLite file, then a throwaway PostgreSQL started by
scripts/with-postgres.sh), in a temporary directory removed afterwards: `--threads`
threads record audit events at once for `--seconds`, each event in a unit of work of its
own (as a staff action records it); first the plain INSERT the log was before the chain
(`AuditEvent.objects.create`), then `audit_record` (INSERT, then the chain's head locked
last, the link inserted, the head updated). Afterwards `audit_verify` must find nothing.

Run from the project root: .venv/bin/python bench/audit_chain.py [--threads 8]
[--seconds 10] [--sqlite-only]. The last line sums it up:

    audit_chain: events/s without → with the chain: <a> → <b> on SQLite, <c> → <d> on PostgreSQL
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = "RESULT "


def one_database(threads: int, seconds: float) -> tuple[float, float]:
    """Runs in a process whose DATABASE_URL is set: both measures, then the check."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from creneau.audit.models import AuditEvent
    from creneau.audit.services import audit_record
    from creneau.core.actor import Actor
    from creneau.core.db import unit_of_work

    call_command("migrate", verbosity=0)
    actor = Actor(user=None, ip="192.0.2.1", user_agent="bench")

    @unit_of_work
    def plain(n: int) -> None:
        AuditEvent.objects.create(
            action="view", object_type="bench", object_id=n, ip=actor.ip, user_agent="bench"
        )

    @unit_of_work
    def chained(n: int) -> None:
        audit_record(actor=actor, action="view", object_type="bench", object_id=n)

    def rate(record) -> float:
        counts = [0] * threads
        start = threading.Barrier(threads + 1)
        stop = threading.Event()

        def run(index: int) -> None:
            start.wait()
            while not stop.is_set():
                record(counts[index])
                counts[index] += 1
            connections.close_all()

        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        start.wait()
        began = time.monotonic()
        time.sleep(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        return sum(counts) / (time.monotonic() - began)

    before = rate(plain)
    unchained = AuditEvent.objects.count()
    after = rate(chained)
    # The plain events of the first measure are in no chain, as a forged one would be:
    # only the chained ones must verify.
    findings = [f for f in _findings() if f.kind != "inserted" or f.shard is not None]
    assert not findings, findings[:5]
    total = AuditEvent.objects.count() - unchained
    print(
        f"  {threads} threads: {before:.0f} events/s without the chain, {after:.0f} with it "
        f"({total} chained, audit_verify clean)",
        flush=True,
    )
    return before, after


def _findings():
    from creneau.audit.selectors import audit_chain_verify

    return audit_chain_verify().findings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        before, after = one_database(args.threads, args.seconds)
        print(f"{RESULT}{before:.1f} {after:.1f}", flush=True)
        return

    command = [
        sys.executable,
        __file__,
        "--inner",
        f"--threads={args.threads}",
        f"--seconds={args.seconds}",
    ]
    figures = {}
    with tempfile.TemporaryDirectory(prefix="creneau-audit-") as tmp:
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
            before, after = (float(x) for x in output.split(RESULT)[1].split())
            figures[name] = (before, after)
    summary = ", ".join(f"{b:.0f} → {a:.0f} on {name}" for name, (b, a) in figures.items())
    print(f"audit_chain: events/s without → with the chain: {summary}")


if __name__ == "__main__":
    main()
