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

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse

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


# What a view may set to change its own policy (django-csp's decorators).
_PER_VIEW = tuple(
    f"_csp_{kind}{suffix}"
    for kind in ("config", "update", "replace", "exempt")
    for suffix in ("", "_ro")
)


class JsonCSP(CSPMiddleware):
    """django-csp's middleware with the policy built once per process: the booking flow's
    JSON answers use no nonce and no policy of their own, so theirs is the same every
    time, and django-csp builds it again for each answer (a tenth of a millisecond)."""

    _built: dict[tuple[str, ...], dict[str, str]] = {}

    def process_response(self, request, response):
        if (
            settings.DEBUG
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_VIEW)
        ):
            return super().process_response(request, response)
        # The policy depends on the settings (_policy_forget) and, through django-csp's
        # excluded prefixes, on the path: a few prefixes (/api/v1/sites, /api/v1/holds…).
        key = tuple(request.path_info.split("/", 4)[:4])
        headers = self._built.get(key)
        if headers is None:
            blank = super().process_response(request, HttpResponse())
            headers = {name: blank[name] for name in (HEADER, HEADER_REPORT_ONLY) if name in blank}
            self._built[key] = headers
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


@receiver(setting_changed)
def _policy_forget(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        JsonCSP._built.clear()


def lean_middleware() -> list[str]:
    return [
        "creneau.api.lean.JsonCSP" if path == "csp.middleware.CSPMiddleware" else path
        for path in settings.MIDDLEWARE
        if path not in SKIPPED
    ]


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
