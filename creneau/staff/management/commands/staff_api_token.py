"""manage.py staff_api_token: an authority's API tokens, for operators (the authority can
also make and revoke its own in the back office, "Jetons d'API").

    manage.py staff_api_token create sante.gouv --name "Registre national" --days 90
    manage.py staff_api_token list sante.gouv
    manage.py staff_api_token revoke sante.gouv 12

`create` prints the token once: give it to the system that will use it (it is not kept,
only its hash). Every creation and revocation is in the audit log.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from creneau.core.errors import DomainError
from creneau.staff.selectors import api_token_list
from creneau.staff.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create, list or revoke a national or regional authority's staff API tokens."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create")
        create.add_argument("username")
        create.add_argument("--name", required=True)
        create.add_argument("--days", type=int, default=90)
        listing = actions.add_parser("list")
        listing.add_argument("username")
        revoke = actions.add_parser("revoke")
        revoke.add_argument("username")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args, action, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no such account: {username}")
        try:
            # No actor: the operator at the terminal (the events name the account).
            if action == "create":
                made = api_token_create(
                    actor=None, user=user, name=options["name"], days=options["days"]
                )
                self.stdout.write(
                    f"token {made.token.pk} for {username}, valid until "
                    f"{made.token.expires_at:%Y-%m-%d %H:%M} UTC (shown once, not kept):"
                )
                self.stdout.write(made.secret)
            elif action == "revoke":
                api_token_revoke(actor=None, user=user, token_id=options["token_id"])
                self.stdout.write(f"token {options['token_id']} of {username} revoked")
            else:
                for token in api_token_list(user=user):
                    state = "revoked" if token.revoked_at else f"until {token.expires_at:%Y-%m-%d}"
                    self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.name}\t{state}")
        except DomainError as error:
            raise CommandError(error.message) from None
