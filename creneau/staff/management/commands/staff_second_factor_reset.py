"""manage.py staff_second_factor_reset: a member of staff lost their phone and their
recovery codes. Removes their authenticator app and codes; their next sign-in (password
first) enrols a new app. Check who is asking (call them back on a known number) first.

    manage.py staff_second_factor_reset m.dupont
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from creneau.staff.services import second_factor_reset


class Command(BaseCommand):
    help = "Remove an account's second factor (authenticator app and recovery codes)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no such account: {username}")
        # No actor: the operator at the terminal (the audit event names the account).
        second_factor_reset(actor=None, user=user)
        self.stdout.write(f"second factor removed for {username}: the next sign-in enrols again")
