from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creneau.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit log's chains (of one day, or of every day) and compare them "
        "with the heads and the seals: every event altered, removed or inserted is named. "
        "Exit status 1 on any finding."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=date.fromisoformat, help="YYYY-MM-DD; default every day")

    def handle(self, *args, day: date | None = None, **options) -> None:
        verification = audit_chain_verify(day=day)
        for finding in verification.findings:
            self.stderr.write(str(finding))
        if verification.purged_through is not None:
            self.stdout.write(
                f"purged (retention) through {verification.purged_through.isoformat()}:"
                " seals and heads checked, events gone"
            )
        for unsealed in verification.unsealed:
            self.stdout.write(f"not sealed yet: {unsealed.isoformat()}")
        if verification.findings:
            raise CommandError(
                f"{len(verification.findings)} finding(s) in the audit log", returncode=1
            )
        self.stdout.write(
            f"audit log intact: {verification.events} event(s) over {len(verification.days)} day(s)"
        )
