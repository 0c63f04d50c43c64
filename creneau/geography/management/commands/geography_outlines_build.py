from pathlib import Path

from django.core.management.base import BaseCommand

from creneau.geography.build import outlines_build
from creneau.geography.maps import OUTLINES_FILE


class Command(BaseCommand):
    help = "Rebuild the shipped department outlines (the search map) from IGN's GeoJSON."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", type=Path, required=True, help="departements-avec-outre-mer.geojson"
        )
        parser.add_argument("--output", type=Path, default=OUTLINES_FILE)

    def handle(self, *args, source: Path, output: Path, **options):
        counts = outlines_build(source=source, output=output)
        self.stdout.write(", ".join(f"{value} {key}" for key, value in counts.items()))
