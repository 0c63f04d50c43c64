"""The waiting room at the doors of the booking flow: what a request carries (a pass, a
ticket) and what its answer gives back. Pages and the API decide how to show a wait.

A pass or a ticket comes as a cookie (browsers, and API clients that keep cookies) or
as a header (X-Queue-Pass, X-Queue-Ticket: API clients that do not)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .metrics import ADMITTED, TOLD_TO_WAIT
from .waiting_room import (
    Decision,
    admission_decide,
    pass_issue,
    pass_valid,
    ticket_sign,
    waiting_room_enabled,
)

PASS_COOKIE = "creneau_pass"
TICKET_COOKIE = "creneau_ticket"
PASS_HEADER = "X-Queue-Pass"
TICKET_HEADER = "X-Queue-Ticket"


def gate_check(request: HttpRequest) -> Decision | None:
    """None when the request goes on (no room, or a pass, or admitted now: `gate_answer`
    then gives the pass); the decision to wait otherwise."""
    if not waiting_room_enabled():
        return None
    held = request.COOKIES.get(PASS_COOKIE) or request.headers.get(PASS_HEADER)
    if pass_valid(held):
        # Renewed on every step: the pass lasts while the visitor is active.
        request.admission_pass = pass_issue()
        return None
    decision = admission_decide(
        signed_ticket=request.COOKIES.get(TICKET_COOKIE) or request.headers.get(TICKET_HEADER)
    )
    if decision.admitted:
        ADMITTED.inc()
        request.admission_pass = pass_issue()
        return None
    TOLD_TO_WAIT.inc()
    request.admission_ticket = ticket_sign(decision.ticket)
    return decision


def gate_answer(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The pass (or the ticket) the request earned, on its answer."""
    secure = settings.PUBLIC_URL.startswith("https://")
    if hasattr(request, "admission_pass"):
        response.set_cookie(
            PASS_COOKIE,
            request.admission_pass,
            max_age=settings.WAITING_ROOM_PASS_MINUTES * 60,
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
        response[PASS_HEADER] = request.admission_pass
        response.delete_cookie(TICKET_COOKIE)
    elif hasattr(request, "admission_ticket"):
        response.set_cookie(
            TICKET_COOKIE,
            request.admission_ticket,
            max_age=86400,
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
        response[TICKET_HEADER] = request.admission_ticket
    return response
