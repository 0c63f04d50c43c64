"""The authorities' statistics: the public page's charts, map and tables for their scope
(a regional authority's departments, every one for the national authority), and their
sites one by one: doses given, no-show rate, stock on hand and its days of cover. Read
from the summary tables (creneau/stats), never the bookings."""

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from creneau.core.errors import NotFound
from creneau.geography.models import Department
from creneau.portal.stats_fragments import statistics_figures
from creneau.staff.access import staff_view
from creneau.stats.selectors import NOSHOW_DAYS, PACE_DAYS, site_figures

from .campaign_views import _departments


@require_GET
@staff_view(permission="stats.read")
def statistics(request: HttpRequest) -> HttpResponse:
    """`?departement=` narrows the sites' table to one department of the scope (the
    national authority's table waits for one: every site of the country is too many)."""
    allowed = _departments(request.staff)
    scope = Department.objects.order_by("code")
    if allowed is not None:
        scope = scope.filter(code__in=allowed)
    chosen = request.GET.get("departement", "")[:3]
    if chosen and not scope.filter(code=chosen).exists():
        # The same answer for a department that does not exist and one out of scope.
        raise NotFound(_("Département introuvable : %(code)s.") % {"code": chosen})
    last = timezone.localdate() - dt.timedelta(days=1)
    listed = [chosen] if chosen else allowed
    return render(
        request,
        "backoffice/statistics.html",
        {
            "last": last,
            "figures": statistics_figures(last=last, departments=allowed),
            "departments": list(scope),
            "chosen": chosen,
            "sites": None if listed is None else site_figures(departments=listed, last=last),
            "pace_days": PACE_DAYS,
            "noshow_days": NOSHOW_DAYS,
        },
    )
