"""The waiting room's door in the API (admission.waiting_room): the booking flow's steps
call it first, from a site's slot list (as the portal gates the site's page) to holds,
bookings and code requests. Search never queues."""

from django.http import HttpRequest
from django.utils.translation import gettext

from creneau.admission.gate import TICKET_HEADER, gate_check
from creneau.core.errors import WaitYourTurn


def admission_require(request: HttpRequest) -> None:
    """503, Retry-After and a ticket to send back (cookie or X-Queue-Ticket) while it is not
    the caller's turn; the pass (X-Queue-Pass) on the answer once it is."""
    decision = gate_check(request)
    if decision is not None:
        raise WaitYourTurn(
            gettext("Salle d'attente : %(ahead)d personnes avant vous. Revenez avec votre ticket.")
            % {"ahead": decision.ahead},
            retry_after=min(decision.wait_seconds, 60),
            ahead=decision.ahead,
            wait_seconds=decision.wait_seconds,
            ticket=request.admission_ticket,
            ticket_header=TICKET_HEADER,
        )
