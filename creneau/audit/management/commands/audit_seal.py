from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creneau.audit.services import audit_seal, audit_seal_due
from creneau.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Seal the audit log's past days not sealed yet (or --day): each chain's head and one "
        "hash over them, stored and written to the operations log (logger creneau.audit) "
        "so that a copy is kept elsewhere. Safe to run twice; run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=date.fromisoformat, help="YYYY-MM-DD; default due days")

    def handle(self, *args, day: date | None = None, **options) -> None:
        try:
            seals = [audit_seal(day=day)] if day is not None else audit_seal_due()
        except DomainError as error:
            raise CommandError(error.message) from error
        for seal in seals:
            self.stdout.write(f"{seal.day.isoformat()} {seal.hash}")
