"""`manage.py campaigns_run`: the campaigns' pass once, by hand (the worker runs it as
the `campaign_waves` job): persons who booked linked to invitees, then each running
campaign's waves and reminders."""

from django.core.management.base import BaseCommand

from creneau.campaigns.services import campaigns_pass


class Command(BaseCommand):
    help = "Envoie les vagues d'invitations et les relances des campagnes en cours."

    def handle(self, *args, **options):
        self.stdout.write(campaigns_pass().summary)
