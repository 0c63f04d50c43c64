"""`manage.py population_import PATH`: the health insurance fund's extract imported
(services.population_import), its counts and first rejected lines printed."""

import os

from django.core.management.base import BaseCommand, CommandError

from creneau.campaigns.services import population_import
from creneau.core.errors import DomainError


class Command(BaseCommand):
    help = "Importe la population à inviter (CSV UTF-8, « ; » ou « , »)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--processes",
            type=int,
            default=len(os.sched_getaffinity(0)),
            help="Processus qui vérifient et chiffrent les lignes (par défaut, un par cœur).",
        )
        parser.add_argument(
            "--departments",
            default="",
            help="Codes des départements acceptés, séparés par des virgules.",
        )

    def handle(self, *args, path: str, departments: str, processes: int, **options):
        allowed = [code.strip() for code in departments.split(",") if code.strip()] or None
        if not 1 <= processes <= 64:
            raise CommandError("--processes : de 1 à 64.")
        try:
            with open(path, "rb") as stream:
                report = population_import(
                    stream=stream, file_name=path, departments=allowed, processes=processes
                )
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}") from error
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"{report.rows} lignes : {report.created} nouvelles, {report.updated} mises à jour, "
            f"{report.unchanged} inchangées, {report.rejected} rejetées."
        )
        for line, reason in report.rejections[:20]:
            self.stdout.write(f"  ligne {line} : {reason}")
