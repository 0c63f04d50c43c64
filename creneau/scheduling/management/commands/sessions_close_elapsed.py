from django.core.management.base import BaseCommand

from creneau.scheduling.services import sessions_close_elapsed


class Command(BaseCommand):
    help = "Close sessions that are over and return the doses of their unused places."

    def handle(self, *args, **options):
        self.stdout.write(f"{sessions_close_elapsed()} doses returned to the stock.")
