"""Refused staff accesses, in the audit log (invariant 8): who asked for what they may not
see is as much the log's business as who saw what."""

from django.http import HttpRequest
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.errors import NotFound


def refusal_record(*, request: HttpRequest, actor: Actor, error: NotFound | None) -> None:
    """Record a page refused to a signed-in account: outside its permissions (`error`
    None), or an object not found in its scope. Whether the object exists elsewhere is
    neither looked up nor recorded: the answer and the event are the same for an id of
    another site and for one that exists nowhere. The event has no site, so the national
    scope reads it, with the page (its URL name) and the ids as asked."""
    match = request.resolver_match
    audit_record(
        actor=actor,
        action="refused",
        object_type=match.view_name if match is not None else "",
        object_id=",".join(f"{name}={value}" for name, value in sorted(match.kwargs.items()))
        if match is not None
        else "",
        summary=error.message if error is not None else gettext("Page hors des droits du compte"),
        details={"method": request.method, "path": request.path},
    )
