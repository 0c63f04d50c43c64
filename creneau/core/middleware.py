import logging
import time
import uuid

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from creneau.core import metrics
from creneau.core.logs import REQUEST_ID, request_id_var, route_of
from creneau.core.unavailable import database_fault, unavailable_response


class LanguageMiddleware(LocaleMiddleware):
    """Pages are in French unless the person chose English with the switch (a cookie);
    the API follows Accept-Language, as programs expect. Many French browsers are set
    to English, and a 90-year-old should not find the portal in a foreign language."""

    def process_request(self, request):
        if request.path.startswith("/api/"):
            return super().process_request(request)
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in dict(settings.LANGUAGES):
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        return None


METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
REQUESTS = metrics.counter(
    "http_requests",
    "Requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
)
DURATION = metrics.histogram(
    "http_request_duration_seconds",
    "Time to answer, by route pattern.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
request_logger = logging.getLogger("creneau.request")


class RequestLog:
    """First in the chain: gives each request its id (the proxy's X-Request-ID, or a new
    one), then logs one line and counts it once the answer is known, whatever answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request.id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request.id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            route = route_of(request)
            method = request.method if request.method in METHODS else "other"
            REQUESTS.labels(route, method, str(response.status_code)).inc()
            DURATION.labels(route).observe(duration)
            response["X-Request-ID"] = request.id
            request_logger.info(
                "request",
                extra={
                    "request_id": request.id,
                    "method": method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class DatabaseUnavailable:
    """A view that met a database down or restarting answers 503 with Retry-After (see
    creneau/core/unavailable.py); the API's own handlers do the same for its endpoints."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_fault(exception):
            return unavailable_response(request, error=exception)
        return None


class PrivacyHeaders:
    """What browsers may use and keep. Permissions-Policy on every answer; and
    "Cache-Control: no-store" on every one not under settings.PUBLIC_PATHS: a booking, a
    code page, a staff screen or an API answer about a person stays out of the browser's
    and any proxy's cache (a shared computer's Back button shows nothing)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        path = request.path_info
        if not (path in settings.PUBLIC_EXACT_PATHS or path.startswith(settings.PUBLIC_PATHS)):
            # A view that said already (never_cache: /healthz) is not contradicted.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
