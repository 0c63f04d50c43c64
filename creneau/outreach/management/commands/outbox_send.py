import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from creneau.core.unavailable import DATABASE_FAULTS
from creneau.outreach.services import OutboxReport, outbox_send, worker_heartbeat_beat

# How often the worker says it is alive (/healthz allows WORKER_HEARTBEAT_MAX_AGE).
HEARTBEAT_SECONDS = 10
# After the database failed (restarting, unreachable), the pause before trying again.
DATABASE_PAUSE_SECONDS = 5

CONSOLE_BACKENDS = {
    "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    "SMS_BACKEND": "creneau.outreach.sms.ConsoleBackend",
}


class Command(BaseCommand):
    help = (
        "Send the pending SMS and e-mails of the outbox: one batch (cron), or batch after "
        "batch with --forever (a worker; as many as wanted may run at once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="messages per batch")
        parser.add_argument("--forever", action="store_true", help="loop until SIGTERM or SIGINT")
        parser.add_argument(
            "--idle-seconds",
            type=float,
            default=1.0,
            help="with --forever, the pause after a batch that found nothing to send",
        )

    def handle(self, *args, limit: int, forever: bool, idle_seconds: float, **options):
        printed = [
            name for name, path in CONSOLE_BACKENDS.items() if getattr(settings, name) == path
        ]
        if printed and not (settings.DEBUG or settings.DEMO):
            raise CommandError(
                f"{', '.join(printed)} only print messages: configure EMAIL_HOST and "
                "SMS_BACKEND (docs/operations.md) before sending in production."
            )
        stop = threading.Event()
        if not forever:
            self._print(outbox_send(limit=limit, stop=stop), always=True)
            return
        # A signal ends the current message, never cuts it: rows are taken one at a time,
        # so whatever is not taken yet stays pending for the next worker.
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        self.stdout.write(f"outbox worker started (batches of {limit}); SIGTERM stops it")
        worker = f"{socket.gethostname()}:{os.getpid()}"
        last_beat = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        worker_heartbeat_beat(worker=worker)
                        last_beat = time.monotonic()
                    report = outbox_send(limit=limit, stop=stop)
                except DATABASE_FAULTS as error:
                    # A restart of the database is not the worker's end: a message taken
                    # and not recorded is taken again after CLAIM_TIMEOUT.
                    self.stderr.write(
                        f"database unavailable ({type(error).__name__}); "
                        f"trying again in {DATABASE_PAUSE_SECONDS} s"
                    )
                    connection.close()
                    stop.wait(DATABASE_PAUSE_SECONDS)
                    continue
                self._print(report)
                if not report.deliveries:
                    stop.wait(idle_seconds)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.stdout.write("outbox worker stopped")

    def _print(self, report: OutboxReport, *, always: bool = False) -> None:
        # Ids, not addresses: the outbox holds personal data, logs should not.
        for delivery in report.deliveries:
            line = (
                f"{delivery.outcome} {delivery.channel} #{delivery.notification_id} "
                f"{delivery.kind} (attempt {delivery.attempt})"
            )
            self.stdout.write(f"{line}: {delivery.error}" if delivery.error else line)
        if report.deliveries or always:
            self.stdout.write(
                f"{report.sent} sent, {report.retried} to retry, {report.failed} failed."
            )
