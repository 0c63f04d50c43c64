"""The booking flow's endpoints through a lean middleware chain (issue 15, item 3).

Search, a site's free slots, holds and bookings are most of launch morning's requests,
and none of them reads a session, a signed-in user, a message or a CSRF cookie: django-
ninja's views are CSRF-exempt (a hold or a booking is authorised by its contact token,
never a cookie), WhiteNoise serves only static files, CommonMiddleware only redirects
htmx and the portal's error pages are the pages'. Each
of those costs every request its share of a millisecond (issue 15's floors: 1.00 ms
with the whole chain, 0.68 ms without any), so these paths go through a second handler
built without them. Everything else these answers need still applies, in the same
order: the request id, its log line and metrics, the database's 503, the security and
CSP headers, Permissions-Policy and Cache-Control, the waiting room's pass or ticket,
the language of Accept-Language, Content-Length (CommonMiddleware: without it gunicorn
would answer in chunks), X-Frame-Options. tests/api/test_lean_path.py compares
the headers with the whole chain's, answer by answer.
"""

import re

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

# The paths of the booking flow's steps, as routed by creneau.api.api.
LEAN_PATHS = re.compile(r"/api/v1/(?:sites|sites/\d+/slots|holds|bookings)")
# What those paths do without: nothing they answer depends on these.
SKIPPED = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "creneau.staff.middleware.StaffIdleTimeout",
        "django_htmx.middleware.HtmxMiddleware",
        "creneau.portal.middleware.DomainErrorPage",
    }
)


def lean_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path not in SKIPPED]


class LeanMiddleware:
    """A handler's chain built from `lean_middleware()` (mixed into Django's handlers:
    WSGI's here, the test client's in tests/api/test_lean_path.py)."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE alone; this runs once, when
        # the process starts, before any request.
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = lean_middleware()
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


class LeanHandler(LeanMiddleware, WSGIHandler):
    """Django's WSGI handler with the lean chain."""


def lean_dispatch(full: WSGIHandler, lean: WSGIHandler | None = None):
    """A WSGI application: the booking flow's paths through `lean` (a LeanHandler), every
    other path through `full`."""
    lean = lean or LeanHandler()

    def application(environ, start_response):
        handler = lean if LEAN_PATHS.fullmatch(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application
