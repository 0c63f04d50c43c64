"""The public statistics page and the open-data files: they read the summary tables
(creneau.stats), never the bookings."""

import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from creneau.interop import opendata as sites_opendata
from creneau.stats.opendata import (
    DATASETS,
    FORMATS,
    LICENCE,
    File,
    csv_resource,
    datapackage,
    day_file,
    history_file,
)
from creneau.stats.selectors import first_day, last_published_day

from .stats_fragments import statistics_figures

# The history changes once a day (a new day published): an hour's staleness at most.
HISTORY_MAX_AGE = 3600
# A published day's file never changes (see creneau.stats.services).
IMMUTABLE = "public, max-age=31536000, immutable"
DAY_FILES_LISTED = 7


@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    """Doses per day, coverage, appointments per department and the map, to yesterday:
    drawn once per refresh (stats_fragments), the page around them per request."""
    last = timezone.localdate() - dt.timedelta(days=1)
    return render(
        request,
        "portal/statistics.html",
        {"last": last, "figures": statistics_figures(last=last)},
    )


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
        {
            "datasets": DATASETS.values(),
            "last": last,
            "published": published,
            "sites": sites_opendata.schema(),
        },
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
    return _json(_dataset(slug).schema())


@require_GET
def open_data_sites(request: HttpRequest) -> HttpResponse:
    """The site directory in the official file's format (creneau/interop), kept until a
    site changes."""
    body, etag = sites_opendata.sites_file()
    file = File(body=body, content_type=FORMATS["csv"], etag=etag)
    return _served(
        request,
        file,
        name=f"{sites_opendata.SLUG}.csv",
        cache_control=f"public, max-age={HISTORY_MAX_AGE}",
    )


@require_GET
def open_data_sites_schema(request: HttpRequest) -> HttpResponse:
    return _json({**sites_opendata.schema(), "licenses": [LICENCE]})


def _json(data: dict) -> HttpResponse:
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={HISTORY_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def open_data_package(request: HttpRequest) -> HttpResponse:
    """Every file of /donnees/: the statistics' datasets and the site directory."""
    package = datapackage()
    package["resources"].append(csv_resource(slug=sites_opendata.SLUG, title=sites_opendata.TITLE))
    return _json(package)
