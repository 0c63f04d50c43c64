"""`manage.py campaigns_run [--forever]`: the campaigns' background pass, for the
worker: persons who booked linked to invitees, then each running campaign's wave and
reminders (each its own short transaction)."""

import time

from django.core.management.base import BaseCommand

from creneau.campaigns.models import Campaign
from creneau.campaigns.services import campaign_wave_send, invitation_reminders_send, invitees_link


class Command(BaseCommand):
    help = "Envoie les vagues d'invitations et les relances des campagnes en cours."

    def add_arguments(self, parser):
        parser.add_argument("--forever", action="store_true")
        parser.add_argument("--interval", type=float, default=60.0)

    def handle(self, *args, forever: bool, interval: float, **options):
        while True:
            linked, read = 0, 1
            while read:
                read, count = invitees_link()
                linked += count
            invited = reminded = 0
            running = Campaign.objects.filter(status=Campaign.Status.RUNNING)
            for campaign_id in running.values_list("pk", flat=True):
                while count := campaign_wave_send(campaign_id=campaign_id):
                    invited += count
                while count := invitation_reminders_send(campaign_id=campaign_id):
                    reminded += count
            self.stdout.write(f"{linked} liées, {invited} invitations, {reminded} relances.")
            if not forever:
                return
            time.sleep(interval)
