from django.core.management.base import BaseCommand

from creneau.waitlist.jobs import waitlist_tick_job


class Command(BaseCommand):
    help = (
        "The waiting list's step, run by hand (the worker runs it every minute): offers past "
        "their 20 minutes expire, the next wave of each declaration with places left goes, "
        "past declarations end, entries past their 30 days leave the list."
    )

    def handle(self, *args, **options):
        self.stdout.write(waitlist_tick_job())
