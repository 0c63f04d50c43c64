from django.core.management.base import BaseCommand, CommandParser

from creneau.privacy.services import retention_purge


class Command(BaseCommand):
    help = (
        "Purge the personal data past its retention period (docs/operations.md, "
        "'Retention'), in batches, and record the counts in the audit log. Daily; safe to "
        "run twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, help="rows per transaction (RETENTION_BATCH)")

    def handle(self, *args, batch: int | None = None, **options) -> None:
        counts = retention_purge(batch=batch)
        self.stdout.write(" ".join(f"{kind}={count}" for kind, count in counts.items()))
