"""Reference data kept per process (issue 15, item 3): computed once, read again when the
services that change it bump its version, or when it is older than MAX_AGE_SECONDS."""

import pytest

from creneau.core import cache as kept_cache
from creneau.core.cache import ProcessKept, kept_version_bump
from creneau.geography.models import Commune
from creneau.geography.selectors import place_resolve
from creneau.geography.services import geography_load
from creneau.scheduling.selectors import vaccine_by_code
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import vaccines_seed


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(kept_cache.time, "monotonic", lambda: now[0])
    return now


def test_a_value_is_computed_once_until_its_version_changes(clock, db):
    kept = ProcessKept("test-kind")
    computed = []

    def compute():
        computed.append(1)
        return len(computed)

    assert [kept.get("a", compute) for _ in range(3)] == [1, 1, 1]
    kept_version_bump("test-kind")
    assert kept.get("a", compute) == 1  # the shared version is asked every few seconds
    clock[0] += kept_cache.VERSION_CHECK_SECONDS
    assert kept.get("a", compute) == 2
    clock[0] += kept_cache.MAX_AGE_SECONDS
    assert kept.get("a", compute) == 3  # read again when old, whatever the version


def test_a_product_renamed_round_the_services_is_seen_within_the_maximum_age(clock, reference):
    assert vaccine_by_code("comirnaty").name == "Comirnaty"
    Vaccine.objects.filter(code="comirnaty").update(name="Renamed")
    assert vaccine_by_code("comirnaty").name == "Comirnaty"
    clock[0] += kept_cache.MAX_AGE_SECONDS
    assert vaccine_by_code("comirnaty").name == "Renamed"
    vaccines_seed()  # the service bumps the version
    clock[0] += kept_cache.VERSION_CHECK_SECONDS
    assert vaccine_by_code("comirnaty").name == "Comirnaty"


def test_a_postcodes_place_follows_the_geography_loaded(clock, reference):
    first = place_resolve(query="75017")
    Commune.objects.filter(insee_code=first.commune_insee_code).update(latitude=0)
    assert place_resolve(query="75017") == first
    geography_load(departments=("75",))
    clock[0] += kept_cache.VERSION_CHECK_SECONDS
    assert place_resolve(query="75017") == first  # loaded again: the file's position
    Commune.objects.filter(insee_code=first.commune_insee_code).update(latitude=0)
    clock[0] += kept_cache.MAX_AGE_SECONDS
    assert place_resolve(query="75017").position.latitude == 0
