"""Operators' endpoints (/healthz, /metrics) and the last-resort error handler."""

import hmac
import ipaddress
import sys

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from creneau.core import metrics
from creneau.core.health import health_report
from creneau.core.unavailable import database_fault, unavailable_response


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when everything answers, 503 with what failed otherwise (for monitoring and a
    load balancer). Reads the database but no session: nothing else is touched."""
    report = health_report()
    return JsonResponse(
        {"status": "ok" if report.healthy else "failing", "checks": report.checks},
        status=200 if report.healthy else 503,
    )


def _may_scrape(request: HttpRequest) -> bool:
    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), settings.METRICS_TOKEN.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format; the same 404 as any unknown page for whoever may not scrape."""
    if not _may_scrape(request):
        raise Http404
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while handling the exception, which is how a database
    fault raised outside a view (a middleware, the session being saved) still gets its 503.
    The API answers JSON even here."""
    error = sys.exc_info()[1]
    if database_fault(error):
        return unavailable_response(request, error=error)
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": gettext("Erreur interne : rien n'a été enregistré."), "code": "error"},
            status=500,
        )
    # Rendered as Django's own handler does (no context processors: the fault may be one
    # of theirs), with the nonce that lets the page's one style in.
    page = loader.get_template("500.html").render({"nonce": getattr(request, "csp_nonce", "")})
    return HttpResponseServerError(page)
