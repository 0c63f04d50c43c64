import time

from django.core.management.base import BaseCommand

from creneau.waitlist.services import waitlist_tick


class Command(BaseCommand):
    help = (
        "The waiting list's worker step: expire offers past their 20 minutes, send the next "
        "wave of each declaration with places left, end past declarations, expire entries "
        "past their 30 days. Run it every minute (or --forever)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--forever", action="store_true", help="Run again and again.")
        parser.add_argument(
            "--every", type=float, default=30.0, help="Seconds between two steps (--forever)."
        )

    def handle(self, *args, forever: bool = False, every: float = 30.0, **options):
        while True:
            report = waitlist_tick()
            self.stdout.write(
                f"{report.offers_expired} offer(s) expired, {report.offers_sent} sent, "
                f"{report.leftovers_ended} declaration(s) ended, "
                f"{report.entries_expired} entr(y/ies) expired."
            )
            if not forever:
                return
            time.sleep(every)
