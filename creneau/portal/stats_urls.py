"""The statistics page and the open data (portal's namespace: added to its urls)."""

from django.urls import path, re_path

from . import stats_views

DATASET = r"(?P<slug>[a-z-]{1,40})"
FORM = r"(?P<form>csv|json)"

urlpatterns = [
    path("statistiques/", stats_views.statistics, name="statistics"),
    path("donnees/", stats_views.open_data, name="open_data"),
    path("donnees/datapackage.json", stats_views.open_data_package, name="open_data_package"),
    # The site directory, before the datasets' patterns that its name would match.
    path("donnees/lieux-vaccination.csv", stats_views.open_data_sites, name="open_data_sites"),
    path(
        "donnees/lieux-vaccination.schema.json",
        stats_views.open_data_sites_schema,
        name="open_data_sites_schema",
    ),
    re_path(
        rf"^donnees/{DATASET}\.schema\.json$", stats_views.open_data_schema, name="open_data_schema"
    ),
    re_path(rf"^donnees/{DATASET}\.{FORM}$", stats_views.open_data_file, name="open_data_file"),
    re_path(
        rf"^donnees/{DATASET}/(?P<day>\d{{4}}-\d{{2}}-\d{{2}})\.{FORM}$",
        stats_views.open_data_day,
        name="open_data_day",
    ),
]
