from django.core.management.base import BaseCommand

from creneau.stats.services import stats_refresh_due


class Command(BaseCommand):
    help = (
        "Recompute today's and yesterday's statistics from the rows of those days (the "
        "worker's timer runs it every ten minutes; older days are published and final)."
    )

    def handle(self, *args, **options) -> None:
        for refreshed in stats_refresh_due():
            self.stdout.write(
                f"{refreshed.day}: {refreshed.appointment_rows} appointment rows, "
                f"{refreshed.vaccination_rows} vaccination rows."
            )
