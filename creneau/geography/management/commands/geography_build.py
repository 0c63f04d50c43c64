from pathlib import Path

from django.core.management.base import BaseCommand

from creneau.geography.build import geography_build
from creneau.geography.services import GEOGRAPHY_FILE


class Command(BaseCommand):
    help = "Rebuild the shipped geography file from the official sources (see data/NOTICE.md)."

    def add_arguments(self, parser):
        parser.add_argument("--etalab", type=Path, required=True, help="unpacked npm package")
        parser.add_argument("--laposte", type=Path, required=True, help="laposte_hexasmal.csv")
        parser.add_argument("--output", type=Path, default=GEOGRAPHY_FILE)

    def handle(self, *args, etalab: Path, laposte: Path, output: Path, **options):
        counts = geography_build(etalab_dir=etalab, laposte_csv=laposte, output=output)
        self.stdout.write(", ".join(f"{value} {key}" for key, value in counts.items()))
