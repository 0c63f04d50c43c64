from django.core.management.base import BaseCommand

from creneau.booking.services import holds_expire


class Command(BaseCommand):
    help = (
        "Give back the places of expired holds, so that search shows them free again. "
        "Not needed for correctness (a full slot reclaims its expired holds); run it every minute."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"{holds_expire()} expired hold(s) released.")
