from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from creneau.outreach.services import OutboxReport, outbox_send

CONSOLE_BACKENDS = {
    "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    "SMS_BACKEND": "creneau.outreach.sms.ConsoleBackend",
}


def production_backends_check() -> str:
    """Why messages must not be sent from here ("" when they may): in production,
    backends that only print would lose them."""
    printed = [name for name, path in CONSOLE_BACKENDS.items() if getattr(settings, name) == path]
    if printed and not (settings.DEBUG or settings.DEMO):
        return (
            f"{', '.join(printed)} only print messages: configure EMAIL_HOST and "
            "SMS_BACKEND (docs/operations.md) before sending in production."
        )
    return ""


class Command(BaseCommand):
    help = (
        "Send one batch of the outbox's due SMS and e-mails and print what became of each "
        "(by hand; the worker, manage.py worker, sends them continuously)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="messages per batch")

    def handle(self, *args, limit: int, **options):
        problem = production_backends_check()
        if problem:
            raise CommandError(problem)
        report_print(self.stdout, outbox_send(limit=limit), always=True)


def report_print(stdout, report: OutboxReport, *, always: bool = False) -> None:
    # Ids, not addresses: the outbox holds personal data, logs should not.
    for delivery in report.deliveries:
        line = (
            f"{delivery.outcome} {delivery.channel} #{delivery.notification_id} "
            f"{delivery.kind} (attempt {delivery.attempt})"
        )
        stdout.write(f"{line}: {delivery.error}" if delivery.error else line)
    if report.deliveries or always:
        stdout.write(f"{report.sent} sent, {report.retried} to retry, {report.failed} failed.")
