"""The outbox's own costs and its sending rate (issue 17, item 8's sending goals):

1. the time to enqueue an invitation one at a time (`notification_enqueue`) and in
   batches (`notifications_enqueue_many`, as a campaign's wave does);
2. the CPU one worker spends a message sent, its send loop (`outbox_send`) run in this
   process against the fake provider of bench/sending.py on 127.0.0.1, not throttled
   (the worker's own cost, not the provider's);
3. the sending rate: `--send` SMS invitations sent by `--workers` `manage.py worker`
   processes to the fake provider throttled at `--rate` a second (OUTBOX_RATE_SMS the
   same), the first worker killed with SIGKILL when half have arrived and started
   again (bench/sending.py, as bench/campaign.py's sending, without its population and
   campaign). Every message must reach the provider exactly once (a redelivery under
   the same idempotency key counts once); where the provider stood idle is printed.

In a throwaway PostgreSQL (scripts/with-postgres.sh), or SQLite with `--sqlite`:

    .venv/bin/python bench/outbox.py [--messages 2000] [--send 3000] [--rate 50]
        [--workers 4] [--sqlite] [--profile]

The worker's CPU in 2 is its thread's (time.thread_time), so the provider's threads are
not counted; `--profile` prints the send loop's 25 costliest functions (cProfile). The
last line sums it up:

    outbox: <A> ms an invitation enqueued one at a time, <B> ms in batches,
    worker <C> ms CPU a message; <S> sent/s of a provider limit <L>/s (<P> %),
    <D> duplicates
"""

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from sending import Provider, provider_start, workers_send  # noqa: E402

BATCH = 500  # campaigns.services.WAVE_BATCH
ROUNDS = 3


def _inner(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["OUTBOX_QUIET_HOURS"] = ""
    # The shared rate is still counted for every claim (its cost is the worker's), never
    # spent.
    os.environ["OUTBOX_RATE_SMS"] = "1000000"
    provider = Provider(rate=1_000_000)
    server, port = provider_start(provider)
    os.environ["SMS_BACKEND"] = "creneau.outreach.sms.HttpBackend"
    os.environ["SMS_HTTP_URL"] = f"http://127.0.0.1:{port}/sms"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from creneau.outreach.models import Notification, OptOut, notification_to_index
    from creneau.outreach.services import (
        OutboxMessage,
        notification_enqueue,
        notifications_enqueue_many,
        outbox_send,
    )

    call_command("migrate", verbosity=0)
    load = Path("/proc/loadavg").read_text().strip()
    print(f"database: {connection.vendor}; load {load}")
    # One address in 50 opted out, as the opt-out check must find some.
    OptOut.objects.bulk_create(
        OptOut(address_index=notification_to_index(f"+336{n:08d}"), source="stop")
        for n in range(0, args.messages * ROUNDS * 2, 50)
    )

    def messages(start: int) -> list[OutboxMessage]:
        return [
            OutboxMessage(
                channel="sms",
                to=f"+336{n:08d}",
                kind="invitation",
                event=f"bench:{n}",
                context={
                    "person_name": "Jeanne Martin",
                    "message_fr": "Vous avez 75 ans ou plus : prenez rendez-vous.",
                    "message_en": "",
                    # The invitation's secrets are read from its row when it goes (2
                    # queries, campaigns/messages.py): there is no invitation here.
                    "code": f"INV{n:07d}",
                    "link": f"https://example.org/i#{n}",
                },
                fallbacks=[("letter", f"Jeanne MARTIN\n{n} rue de la Gare\n75001 PARIS")],
            )
            for n in range(start, start + BATCH)
        ]

    single, many = [], []
    start = 0
    # Alternated rounds of one batch each way, so that both see the same load.
    for _round in range(ROUNDS):
        batch = messages(start)
        start += BATCH
        began = time.perf_counter()
        with transaction.atomic():
            for message in batch:
                notification_enqueue(**vars(message))
        single.append(1000 * (time.perf_counter() - began) / BATCH)
        batch = messages(start)
        start += BATCH
        began = time.perf_counter()
        with transaction.atomic():
            notifications_enqueue_many(messages=batch)
        many.append(1000 * (time.perf_counter() - began) / BATCH)
    # The messages to send: as many as asked, the rest of the rows out of the way.
    Notification.objects.all().delete()
    for first in range(0, args.messages, BATCH):
        with transaction.atomic():
            notifications_enqueue_many(messages=messages(start + first)[: args.messages - first])
    pending = Notification.objects.filter(status="pending").count()
    profile = cProfile.Profile() if args.profile else None
    began = time.thread_time()
    if profile:
        profile.enable()
    sent = 0
    while deliveries := outbox_send(limit=100).deliveries:
        sent += sum(1 for delivery in deliveries if delivery.outcome == "sent")
    if profile:
        profile.disable()
    cpu = time.thread_time() - began
    server.shutdown()
    if not sent or sent != pending or provider.unique != pending:
        raise SystemExit(
            f"FAILED: {pending} pending, {sent} sent, {provider.unique} reached the provider"
        )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    print(
        f"enqueue: {' '.join(f'{ms:.2f}' for ms in single)} ms one at a time, "
        f"{' '.join(f'{ms:.2f}' for ms in many)} ms in batches of {BATCH}; "
        f"worker {1000 * cpu / sent:.1f} ms CPU a message ({sent} sent)",
        flush=True,
    )

    # 3. The sending rate, by worker processes.
    Notification.objects.all().delete()
    start += args.messages
    for first in range(0, args.send, BATCH):
        with transaction.atomic():
            notifications_enqueue_many(messages=messages(start + first)[: args.send - first])
    keys = {
        str(pk)
        for pk in Notification.objects.filter(status="pending", channel="sms").values_list(
            "pk", flat=True
        )
    }
    unsent = Notification.objects.filter(status__in=["pending", "sending"])
    connection.close()
    load_before = Path("/proc/loadavg").read_text().strip()
    sending = workers_send(
        manage=[sys.executable, str(ROOT / "manage.py")],
        cwd=ROOT,
        env={**os.environ},
        keys=keys,
        rate=args.rate,
        workers=args.workers,
        unsent=unsent.exists,
        logs=Path(tempfile.mkdtemp(prefix="creneau-outbox-workers-")),
    )
    load_after = Path("/proc/loadavg").read_text().strip()
    print(sending.idle)
    print(
        f"sending: {len(keys)} SMS by {args.workers} workers (one killed after "
        f"{sending.killed_at}), {sending.steady} in the steady part, {sending.after_timeout} "
        f"after the claim timeout; {sending.requests} requests for {len(sending.received)} "
        f"keys; the workers' CPU {1000 * sending.cpu / max(1, len(sending.received)):.1f} ms "
        f"a message (their start and jobs included); load {load_before} then {load_after}"
    )
    print(
        f"outbox: {statistics.median(single):.2f} ms an invitation enqueued one at a time, "
        f"{statistics.median(many):.2f} ms in batches, worker {1000 * cpu / sent:.1f} ms CPU "
        f"a message; {sending.sent_rate:.1f} sent/s of a provider limit {args.rate:g}/s "
        f"({100 * sending.sent_rate / args.rate:.1f} %), {sending.duplicates} duplicates",
        flush=True,
    )
    failures = sending.failures()
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000, help="messages the worker sends")
    parser.add_argument("--send", type=int, default=3000, help="SMS the worker processes send")
    parser.add_argument("--rate", type=float, default=50.0, help="the provider's limit, SMS/s")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="print the send loop's profile")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 100 <= args.messages <= 1_000_000 or not 100 <= args.send <= 1_000_000:
        parser.error("--messages and --send from 100 to 1000000")
    if not 1 <= args.rate <= 10_000 or not 1 <= args.workers <= 32:
        parser.error("--rate from 1 to 10000, --workers from 1 to 32")
    if args.inner:
        _inner(args)
        return
    command = [sys.executable, __file__, "--inner", *sys.argv[1:]]
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="creneau-outbox-db-") as directory:
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{directory}/bench.sqlite3"}
            subprocess.run(command, cwd=ROOT, env=env, check=True)
        return
    subprocess.run([str(ROOT / "scripts/with-postgres.sh"), *command], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
