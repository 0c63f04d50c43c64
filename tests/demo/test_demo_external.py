from creneau.core.geo import Position
from creneau.demo.external import PLATFORM, demo_external_platform_ensure
from creneau.interop.models import ExternalPlatform
from creneau.interop.selectors import external_search


def test_the_demo_platform_is_served_imported_and_shown_near_paris(reference):
    report = demo_external_platform_ensure()
    assert report.error == ""
    assert report.locations == 24 and report.slots > 0
    found = external_search(origin=Position(48.8566, 2.3522), radius_km=10)
    assert len(found) == 20 and all(r.platform == PLATFORM and r.confirmed for r in found)
    # Loaded again (a new day of the demo): the same platform, its feed read afresh.
    again = demo_external_platform_ensure()
    assert again.error == "" and again.locations == 24
    assert ExternalPlatform.objects.filter(name=PLATFORM).count() == 1
