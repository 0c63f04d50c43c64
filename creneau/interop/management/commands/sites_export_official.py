import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from creneau.interop.official import sites_export_official


class Command(BaseCommand):
    help = (
        "Write the site directory in the columns of the official list of vaccination sites "
        "(data.gouv.fr), to a file or to standard output; `sites_import` reads it back."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, nargs="?", help="default: standard output")

    def handle(self, *args, path: Path | None, **options):
        if path is None:
            count = sites_export_official(out=sys.stdout)
        else:
            with path.open("w", encoding="utf-8", newline="") as out:
                count = sites_export_official(out=out)
        self.stderr.write(f"{count} sites written")
