"""Staff sessions end after STAFF_IDLE_MINUTES without a request: a back-office screen
left open at a desk or on a shared computer does not stay signed in for the day."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from creneau.audit.services import audit_record

from .access import actor_from_request

SEEN_KEY = "staff_seen_at"
# The time of the last request is written at most once a minute: not a session write on
# every click.
SEEN_PRECISION_SECONDS = 60


class StaffIdleTimeout:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only signed-in sessions (staff): the portal's visitors never sign in, and
        # looking at the session's keys loads no user.
        if SESSION_KEY in request.session:
            now = int(time.time())
            seen = request.session.get(SEEN_KEY)
            if seen is not None and now - seen > settings.STAFF_IDLE_MINUTES * 60:
                audit_record(
                    actor=actor_from_request(request),
                    action="logout",
                    summary=gettext("Déconnexion après inactivité"),
                )
                logout(request)
                messages.info(
                    request,
                    gettext(
                        "Votre session a pris fin après %(minutes)d minutes sans activité. "
                        "Reconnectez-vous pour continuer."
                    )
                    % {"minutes": settings.STAFF_IDLE_MINUTES},
                )
            elif seen is None or now - seen >= SEEN_PRECISION_SECONDS:
                request.session[SEEN_KEY] = now
        return self.get_response(request)
