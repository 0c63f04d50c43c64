import logging
import os
import signal
import socket
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from creneau.core.jobs import jobs_declared
from creneau.core.unavailable import DATABASE_FAULTS
from creneau.outreach.services import outbox_send, worker_heartbeat_beat
from creneau.outreach.worker import jobs_run_due

from .outbox_send import production_backends_check, report_print

logger = logging.getLogger(__name__)

# How often the worker says it is alive (/healthz allows WORKER_HEARTBEAT_MAX_AGE).
HEARTBEAT_SECONDS = 10
# After the database failed (restarting, unreachable), the pause before trying again.
DATABASE_PAUSE_SECONDS = 5
# A batch of the outbox lasts at most this long before the queue is read again by
# priority: a code written while invitations go out waits no longer than this.
BATCH_SECONDS = 1.0
# How often the schedule of background jobs is looked at.
JOBS_TICK_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "The worker: sends the outbox (codes first, at each channel's rate) and runs every "
        "background job on its schedule (holds, elapsed sessions, the retention purge, the "
        "audit seal, reminders, and what other apps declare). As many as wanted may run at "
        "once; SIGTERM or SIGINT stops it after the messages or job in hand."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="messages per batch")
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=1.0,
            help="the pause after a batch that found nothing to send",
        )

    def handle(self, *args, limit: int, idle_seconds: float, **options):
        problem = production_backends_check()
        if problem:
            raise CommandError(problem)
        stop = threading.Event()
        # A signal ends the current claim or job, never cuts it: a claim is a few rows
        # (a tenth of a second of the rate), sent before the worker stops, so whatever
        # is not claimed yet stays pending for the next worker.
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        jobs = ", ".join(job.name for job in jobs_declared())
        self.stdout.write(f"worker started (batches of {limit}; jobs: {jobs}); SIGTERM stops it")
        # The jobs run in a thread of their own, so that a long one (the nightly purge)
        # never holds up a code: the outbox loop below goes on meanwhile.
        scheduler = threading.Thread(target=self._jobs_loop, args=(stop,), name="jobs")
        scheduler.start()
        worker = f"{socket.gethostname()}:{os.getpid()}"
        last_beat = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        worker_heartbeat_beat(worker=worker)
                        last_beat = time.monotonic()
                    report = outbox_send(limit=limit, stop=stop, seconds=BATCH_SECONDS)
                except DATABASE_FAULTS as error:
                    self._database_pause(stop, error)
                    continue
                report_print(self.stdout, report)
                # Spent rates: until their next window, to the millisecond (a second's
                # rate not used is lost). Nothing due: a pause. Otherwise on at once.
                if report.throttled_for:
                    stop.wait(report.throttled_for)
                elif not report.deliveries:
                    stop.wait(idle_seconds)
        finally:
            stop.set()
            scheduler.join()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("worker stopped")

    def _jobs_loop(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    for outcome in jobs_run_due():
                        state = "done" if outcome.ok else "failed"
                        self.stdout.write(f"job {outcome.name} {state}: {outcome.said}")
                except DATABASE_FAULTS as error:
                    self._database_pause(stop, error)
                    continue
                except Exception:  # the schedule itself broke: said, and looked at again
                    logger.exception("worker: the job schedule could not be read")
                stop.wait(JOBS_TICK_SECONDS)
        finally:
            connection.close()

    def _database_pause(self, stop: threading.Event, error: Exception) -> None:
        # A restart of the database is not the worker's end: a message taken and not
        # recorded is taken again after CLAIM_TIMEOUT, a job runs at its next time.
        self.stderr.write(
            f"database unavailable ({type(error).__name__}); "
            f"trying again in {DATABASE_PAUSE_SECONDS} s"
        )
        connection.close()
        stop.wait(DATABASE_PAUSE_SECONDS)
