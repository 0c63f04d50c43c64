"""Other platforms in the national search cost no SQL query per search but the one that
reads the results' booking links (issue 15: they had added five to every search, 12
queries instead of 7): a snapshot in each process, read again when an import changes it."""

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from creneau.core.geo import Position
from creneau.interop.models import ExternalAvailability
from creneau.interop.selectors import external_search, national_search
from creneau.interop.services import (
    feed_import,
    platform_external_sites_confirm,
    platform_register,
)
from creneau.interop.snapshot import VERSION_KEY
from creneau.scheduling.selectors import availability_search
from tests.factories import STAFF, deliver, make_site, open_session

from . import test_import
from .test_import import PARIS, _feed, _good_feed, _location, _schedule, _slot

# Pytest finds a module's fixtures by its names: the imported platform of `test_import`.
platform = test_import.platform

MARSEILLE = Position(43.2965, 5.3698)


def _queries(search) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        answer = search()
    return len(queries), answer


def test_the_other_platforms_cost_one_query_with_results_and_none_without(platform):
    ours = make_site(name="Centre Paris 4", insee_code="75104")
    deliver(ours, 100)
    open_session(ours)
    national_search(origin=PARIS, radius_km=20)  # the snapshot is read once, here
    alone, _ = _queries(lambda: availability_search(origin=PARIS, radius_km=20))
    both, (sites, elsewhere) = _queries(lambda: national_search(origin=PARIS, radius_km=20))
    assert [r.site for r in sites] == [ours] and len(elsewhere) == 2
    assert both == alone + 1
    # Far from any other platform's place: not even that one.
    far_alone, _ = _queries(lambda: availability_search(origin=MARSEILLE, radius_km=20))
    far, (_, nothing) = _queries(lambda: national_search(origin=MARSEILLE, radius_km=20))
    assert nothing == [] and far == far_alone
    # Searches after the first never read the snapshot again while nothing changes.
    again, _ = _queries(lambda: [national_search(origin=PARIS, radius_km=20) for _ in range(3)])
    assert again == 3 * both


def test_an_api_search_costs_at_most_one_query_more_with_platforms_imported(
    reference, client, feed_server
):
    ours = make_site(name="Centre Paris 4", insee_code="75104")
    deliver(ours, 100)
    open_session(ours)
    query = {"near": "75004", "radius_km": 20}
    client.get("/api/v1/sites", query)
    without, answer = _queries(lambda: client.get("/api/v1/sites", query))
    assert answer.json()["elsewhere"] == []
    platform = platform_register(
        actor=STAFF, name="Rdv Exemple", manifest_url=_good_feed(feed_server)
    )
    assert feed_import(platform_id=platform.pk).error == ""
    platform_external_sites_confirm(actor=STAFF, platform_id=platform.pk)
    client.get("/api/v1/sites", query)
    with_platform, answer = _queries(lambda: client.get("/api/v1/sites", query))
    assert len(answer.json()["elsewhere"]) == 2
    assert with_platform <= without + 1, (without, with_platform)


def test_an_import_is_seen_by_the_next_search(platform, feed_server):
    assert [r.available_slots for r in external_search(origin=PARIS, radius_km=20)] == [4, 2]
    _feed(
        feed_server,
        locations=[_location(1), _location(2)],
        schedules=[_schedule(1), _schedule(2)],
        slots=[_slot(1, 1), _slot(2, 2), _slot(2, 3), _slot(2, 4)],
    )
    assert feed_import(platform_id=platform.pk).error == ""
    assert [r.available_slots for r in external_search(origin=PARIS, radius_km=20)] == [2, 6]


def test_another_process_import_is_seen_through_the_shared_version_or_the_age(platform, settings):
    """Rows changed by another process (here, behind the snapshot's back): invisible until
    the shared cache's version changes, or the snapshot is older than its limit."""
    first = ExternalAvailability.objects.filter(location__external_id="L1")
    days = first.count()  # its two slots may fall on two days
    assert external_search(origin=PARIS, radius_km=20)[0].available_slots == 4
    first.update(free=7)
    assert external_search(origin=PARIS, radius_km=20)[0].available_slots == 4
    cache.set(VERSION_KEY, "another process's import")
    assert external_search(origin=PARIS, radius_km=20)[0].available_slots == 7 * days
    first.update(free=1)
    settings.INTEROP_SNAPSHOT_SECONDS = 0
    assert external_search(origin=PARIS, radius_km=20)[0].available_slots == days
