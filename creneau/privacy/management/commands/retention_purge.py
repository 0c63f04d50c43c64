from django.conf import settings
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
        parts = parser.add_mutually_exclusive_group()
        parts.add_argument(
            "--skip-audit",
            action="store_true",
            help="everything but the audit log (a database role that may not delete it)",
        )
        parts.add_argument(
            "--audit-only",
            action="store_true",
            help="only the audit log's sealed days past AUDIT_RETENTION_DAYS (run as the owner)",
        )

    def handle(
        self,
        *args,
        batch: int | None = None,
        skip_audit: bool = False,
        audit_only: bool = False,
        **options,
    ) -> None:
        counts = retention_purge(
            batch=batch,
            data=not audit_only,
            audit=audit_only or (not skip_audit and settings.RETENTION_AUDIT_PURGE),
        )
        self.stdout.write(" ".join(f"{kind}={count}" for kind, count in counts.items()))
