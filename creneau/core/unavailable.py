"""The database is unreachable or restarting: a 503 with Retry-After, never a 500.

PostgreSQL being restarted ("the database system is shutting down / starting up"),
connections cut by the server or refused, SQLite still locked after the services'
retries: all are Django's OperationalError or InterfaceError. Nothing was written by
the request (its transaction was rolled back or never began), so the client may simply
try again; the API says so in JSON, pages in a plain page, both with Retry-After.

Three places turn these errors into this answer: the API's exception handlers
(creneau/api/api.py), the DatabaseUnavailable middleware for the views of pages, and
the 500 handler (creneau.core.views.server_error) for what fails outside a view (a
middleware, saving the session).
"""

import logging
import random

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext

DATABASE_FAULTS = (OperationalError, InterfaceError)

logger = logging.getLogger("creneau.unavailable")


def database_fault(error: BaseException | None) -> bool:
    return isinstance(error, DATABASE_FAULTS)


def unavailable_response(request: HttpRequest, *, error: BaseException) -> HttpResponse:
    # The class and SQLSTATE say what happened; the message may quote a query's values.
    logger.warning(
        "database unavailable",
        extra={
            "event": "database_unavailable",
            "error": f"{type(error.__cause__ or error).__name__}"
            f" {getattr(error.__cause__, 'sqlstate', None) or ''}".strip(),
        },
    )
    # A second either way: clients that met the outage in the same instant would otherwise
    # come back in step, all of them a whole Retry-After after the database returned
    # (bench/rush.py: the first booking 5.1 s after a 5 s outage, with 5 s each).
    retry_after = max(1, settings.DATABASE_RETRY_AFTER_SECONDS + random.randint(-1, 1))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "detail": gettext(
                    "Service momentanément indisponible : réessayez dans quelques secondes. "
                    "Rien n'a été enregistré par cette demande."
                ),
                "code": "unavailable",
            },
            status=503,
        )
    else:
        # No context processors, no session, no user: nothing here may touch the database.
        response = HttpResponse(
            render_to_string(
                "core/unavailable.html",
                {
                    "retry_after": retry_after,
                    "refresh": request.method == "GET",
                    "CALL_CENTRE_PHONE": settings.CALL_CENTRE_PHONE,
                },
            ),
            status=503,
        )
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
