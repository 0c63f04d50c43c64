"""The waiting room's door in the API (admission.waiting_room): the booking flow's steps
call it first, from the search (as the portal gates its search) and a site's slot list to
holds, bookings and code requests. A site's calendar and managing a booking never queue."""

import functools
from collections.abc import Callable

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


def admission_required(view: Callable) -> Callable:
    """`admission_require` before the view, and before any answer it keeps in a cache."""

    @functools.wraps(view)
    def admitted(request: HttpRequest, *args, **kwargs):
        admission_require(request)
        return view(request, *args, **kwargs)

    return admitted
