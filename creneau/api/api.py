"""The public JSON API, version 1.

Endpoints translate: parse, call one selector or service, answer.
"""

from django.http import HttpRequest
from ninja import NinjaAPI

from creneau.core.errors import DomainError
from creneau.core.unavailable import DATABASE_FAULTS, unavailable_response

from .rendering import OrjsonRenderer

api = NinjaAPI(
    title="Créneau API",
    version="1",
    description="Vaccination sites near you, their free slots, and booking.",
    urls_namespace="api-v1",
    renderer=OrjsonRenderer(),
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, error: DomainError):
    response = api.create_response(
        request, {"detail": error.message, "code": error.code, **error.details}, status=error.status
    )
    if "retry_after" in error.details:
        response["Retry-After"] = str(error.details["retry_after"])
    return response


@api.exception_handler(DATABASE_FAULTS[0])
@api.exception_handler(DATABASE_FAULTS[1])
def database_unavailable(request: HttpRequest, error: Exception):
    """The database is down or restarting: 503 with Retry-After, in JSON (nothing written)."""
    return unavailable_response(request, error=error)


from creneau.api import booking, sites  # noqa: E402  (registers its routes on api)

api.add_router("/sites", sites.router)
api.add_router("/contacts", booking.contacts)
api.add_router("/holds", booking.holds)
api.add_router("/bookings", booking.bookings)
api.add_router("/demo", booking.demo)
