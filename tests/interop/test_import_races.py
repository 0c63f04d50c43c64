"""Imports racing each other and searches: each import is one transaction, so a search
sees the last good read or the new one whole, never half of each."""

from creneau.core.geo import Position
from creneau.interop.models import ExternalAvailability
from creneau.interop.selectors import external_search
from creneau.interop.services import (
    feed_import,
    platform_external_sites_confirm,
    platform_register,
)
from tests.concurrency.racers import race_threads
from tests.factories import STAFF

from .test_import import _feed, _location, _schedule, _slot

PARIS = Position(48.8566, 2.3522)


def test_imports_of_one_platform_racing_searches_never_show_half_a_feed(
    reference_committed, feed_server
):
    small = {"locations": [_location(1), _location(2)], "schedules": [_schedule(1), _schedule(2)]}
    url = _feed(feed_server, **small, slots=[_slot(1, 1), _slot(2, 2)])
    platform = platform_register(actor=STAFF, name="Rdv Exemple", manifest_url=url)
    assert feed_import(platform_id=platform.pk).error == ""
    platform_external_sites_confirm(actor=STAFF, platform_id=platform.pk)
    # The next read: both locations with many more places.
    _feed(feed_server, **small, slots=[_slot(i, n) for i in (1, 2) for n in range(1, 40)])
    totals = {2 * 2, 2 * 2 * 39}  # before (two slots of 2 places) and after

    def work(index: int):
        if index < 2:
            return feed_import(platform_id=platform.pk).error
        return [
            sum(r.available_slots for r in external_search(origin=PARIS, radius_km=20))
            for _ in range(20)
        ]

    results = race_threads(6, work)

    assert results[:2] == ["", ""], results
    for seen in results[2:]:
        assert not isinstance(seen, Exception), seen
        assert set(seen) <= totals, seen
    assert sum(ExternalAvailability.objects.values_list("free", flat=True)) == 2 * 2 * 39
