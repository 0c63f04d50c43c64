from django.core.management.base import BaseCommand

from creneau.stats.services import stats_refresh_due


class Command(BaseCommand):
    help = (
        "Recompute today's and yesterday's statistics from the rows of those days (the "
        "worker's timer runs it every ten minutes; older days are published and final)."
    )

    def handle(self, *args, **options) -> None:
        refreshed = stats_refresh_due()
        self.stdout.write(
            f"{refreshed.first} to {refreshed.last}: {refreshed.appointment_rows} appointment "
            f"rows, {refreshed.vaccination_rows} vaccination rows."
        )
