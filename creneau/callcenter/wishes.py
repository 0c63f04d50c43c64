"""What putting a caller on the waiting list and subscribing them to alerts share: the
agent's form (the portal's, with the caller's mobile or e-mail read back to them: no code,
the agent is the check, as for a booking by phone) turned into one call of the service,
which records the agent's action in the audit log."""

from collections.abc import Callable

from django.http import HttpRequest

from creneau.booking.services import contact_for_agent
from creneau.core.errors import DomainError
from creneau.portal.forms import PlaceWishesForm


def caller_wishes_save(
    request: HttpRequest,
    *,
    form: PlaceWishesForm,
    service: Callable[..., object],
    arguments: Callable[[dict], dict],
) -> int | None:
    """For a valid `form`: the place resolved, the caller's contact found or made, then
    `service(contact=…, actor=the agent, **arguments(draft))`. None when it is done; else
    the HTTP status of the refusal, which the form now shows on its field."""
    place = form.place()
    if place is None:
        return 400
    try:
        service(
            contact=contact_for_agent(**form.contact_given()),
            actor=request.actor,
            **arguments(form.draft(place)),
        )
    except DomainError as error:
        if error.details.get("field") in ("phone", "email"):
            form.contact_error(error)
        else:
            form.refusal(error)
        return error.status
    return None
