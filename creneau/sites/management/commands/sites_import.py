from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from creneau.core.errors import DomainError
from creneau.sites.services import sites_import_official

SHOWN_REJECTS = 20


class Command(BaseCommand):
    help = (
        "Import the official list of vaccination sites (data.gouv.fr, .csv or .csv.gz); "
        "sites from sante.fr that the file no longer lists are closed. See sites/data/NOTICE.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--snapshot-date",
            type=date.fromisoformat,
            help="YYYY-MM-DD; closing dates before it close the site (default: latest edit)",
        )

    def handle(self, *args, path: Path, snapshot_date: date | None, **options):
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            report = sites_import_official(path=path, snapshot_date=snapshot_date)
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"{path.name} (snapshot {report.snapshot_date}): {report.rows} rows, "
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged "
            f"({report.published} published, {report.closed} closed by the file), "
            f"{report.closed_absent} closed as absent, {report.rejected} rejected, "
            f"{report.status_kept} status(es) set by staff kept"
        )
        for reason, count in report.rejected_by_reason().items():
            self.stdout.write(f"  rejected {reason}: {count}")
        for reject in report.rejects[:SHOWN_REJECTS]:
            self.stdout.write(f"  line {reject.line}, gid {reject.external_id}: {reject.reason}")
        if report.rejected > SHOWN_REJECTS:
            self.stdout.write(f"  … and {report.rejected - SHOWN_REJECTS} more")
