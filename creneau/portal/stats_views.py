"""The public statistics page and the open-data files: they read the summary tables
(creneau.stats), never the bookings."""

import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from creneau.geography.maps import country_map_draw
from creneau.stats.opendata import DATASETS, File, datapackage, day_file, history_file
from creneau.stats.selectors import first_day, last_published_day, page_figures

from . import charts

# The history changes once a day (a new day published): an hour's staleness at most.
HISTORY_MAX_AGE = 3600
# A published day's file never changes (see creneau.stats.services).
IMMUTABLE = "public, max-age=31536000, immutable"
DAY_FILES_LISTED = 7
# The bar chart's departments, most appointments first; the table has them all.
BARS = 20


@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    """Doses per day, coverage, appointments per department and the map, to yesterday."""
    last = timezone.localdate() - dt.timedelta(days=1)
    days, departments = page_figures(last=last)
    coverage = [d.coverage_dose1 for d in departments]
    shades = charts.shades_for(coverage)
    shade_by_code = {d.code: charts.shade_of(d.coverage_dose1, shades) for d in departments}
    country = country_map_draw()
    context = {
        "last": last,
        "days": days,
        "departments": departments,
        "today": days[-1] if days else None,
        "map": country,
        "map_departments": [
            (d, shade_by_code.get(d.code, charts.NO_FIGURE)) for d in country.departments
        ],
        "shades": shades,
        "no_figure": charts.NO_FIGURE,
    }
    if days:
        when = [d.day for d in days]
        context["doses_chart"] = charts.line_chart(
            days=when,
            series=[
                (_("Premières doses"), "chart__line--dose1", [d.dose1 for d in days]),
                (_("Schémas complets"), "chart__line--complete", [d.complete for d in days]),
            ],
        )
        context["coverage_chart"] = charts.line_chart(
            days=when,
            series=[
                (_("Au moins une dose"), "chart__line--dose1", [d.coverage_dose1 for d in days]),
                (
                    _("Schéma complet"),
                    "chart__line--complete",
                    [d.coverage_complete for d in days],
                ),
            ],
            percent=True,
        )
        context["appointments_chart"] = charts.bar_chart(
            items=[(f"{d.name} ({d.code})", d.appointments) for d in departments if d.appointments],
            most=BARS,
        )
    return render(request, "portal/statistics.html", context)


@require_GET
def open_data(request: HttpRequest) -> HttpResponse:
    """The list of files, their schemas, the last days' files and the licence."""
    last = last_published_day()
    first = first_day()
    published = [
        last - dt.timedelta(days=n)
        for n in range(DAY_FILES_LISTED)
        if first is not None and last - dt.timedelta(days=n) >= first
    ]
    return render(
        request,
        "portal/open_data.html",
        {"datasets": DATASETS.values(), "last": last, "published": published},
    )


def _served(request: HttpRequest, file: File, *, name: str, cache_control: str) -> HttpResponse:
    response = get_conditional_response(request, etag=file.etag) or HttpResponse(
        file.body, content_type=file.content_type
    )
    response["ETag"] = file.etag
    response["Cache-Control"] = cache_control
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _dataset(slug: str):
    dataset = DATASETS.get(slug)
    if dataset is None:
        raise Http404(_("Ce jeu de données n'existe pas."))
    return dataset


@require_GET
def open_data_file(request: HttpRequest, slug: str, form: str) -> HttpResponse:
    """A dataset's whole history, to the last published day."""
    dataset = _dataset(slug)
    file = history_file(dataset=dataset, form=form, last=last_published_day())
    return _served(
        request,
        file,
        name=f"{slug}.{form}",
        cache_control=f"public, max-age={HISTORY_MAX_AGE}",
    )


@require_GET
def open_data_day(request: HttpRequest, slug: str, day: str, form: str) -> HttpResponse:
    """One published day's file: the same bytes for ever."""
    dataset = _dataset(slug)
    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        raise Http404(_("Ce jour n'existe pas.")) from None
    first = first_day()
    if first is None or not first <= when <= last_published_day():
        raise Http404(_("Les chiffres de ce jour ne sont pas publiés."))
    file = day_file(dataset=dataset, form=form, day=when)
    return _served(request, file, name=f"{slug}-{day}.{form}", cache_control=IMMUTABLE)


@require_GET
def open_data_schema(request: HttpRequest, slug: str) -> HttpResponse:
    response = JsonResponse(_dataset(slug).schema(), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={HISTORY_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def open_data_package(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(datapackage(), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={HISTORY_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
