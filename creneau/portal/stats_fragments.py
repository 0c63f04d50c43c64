"""The figures of the statistics pages drawn once and kept: the charts, the map and the
tables of /statistiques/ (and of an authority's view of its scope, in the back office),
rendered to HTML once per version of the summary tables, language and scope, and kept in
Django's cache (Redis in production: every process shares the one rendering). A request
then costs the version's one small query and a cache read, not sums over the tables and a
template of a thousand table cells."""

import datetime as dt
import hashlib

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from creneau.geography.maps import country_map_draw
from creneau.stats.selectors import department_figures, figures_version, national_days

from . import charts

# The bar chart's departments, most appointments first; the table has them all.
BARS = 20
# A version is replaced by the next refresh (ten minutes); a day covers a quiet night.
KEPT_SECONDS = 24 * 3600


def _context(*, last: dt.date, departments: list[str] | None) -> dict:
    days = national_days(last=last, departments=departments)
    figures = department_figures(last=last, departments=departments)
    shades = charts.shades_for([d.coverage_dose1 for d in figures])
    shade_by_code = {d.code: charts.shade_of(d.coverage_dose1, shades) for d in figures}
    country = country_map_draw()
    context = {
        "national": departments is None,
        "days": days,
        "departments": figures,
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
            items=[(f"{d.name} ({d.code})", d.appointments) for d in figures if d.appointments],
            most=BARS,
        )
    return context


def statistics_figures(*, last: dt.date, departments: list[str] | None = None) -> SafeString:
    """The charts, map and tables of the figures to `last`, for the whole country or the
    `departments` given, as HTML: rendered on the first request after a refresh, read
    from the cache by the others."""
    scope = "all" if departments is None else ",".join(sorted(departments))
    key = (
        "stats:figures:"
        + hashlib.sha256(
            f"{figures_version(last=last)}|{get_language()}|{scope}".encode()
        ).hexdigest()
    )
    html = cache.get(key)
    if html is None:
        html = render_to_string(
            "portal/_statistics_figures.html", _context(last=last, departments=departments)
        )
        cache.set(key, html, KEPT_SECONDS)
    # The HTML is the template's own rendering (every figure escaped by it).
    return mark_safe(html)
