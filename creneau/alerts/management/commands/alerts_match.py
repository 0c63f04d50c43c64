from django.core.management.base import BaseCommand

from creneau.alerts.jobs import alerts_match_job


class Command(BaseCommand):
    help = (
        "The alerts' pass, run by hand (the worker runs it every minute): alerts past their "
        "30 days or whose person booked end, then the places opened since the last pass are "
        "matched and each contact told at most once in 6 hours."
    )

    def handle(self, *args, **options):
        self.stdout.write(alerts_match_job())
