"""Products' standard codes in what we publish and read: the SMART Schedule's
vaccine-product extension (one Coding: CVX when the product has one, else its EU register
number), and another platform's Schedule naming a product by its EU register number."""

import json

from creneau.interop import smart
from creneau.interop.models import ExternalAvailability
from creneau.interop.publish import smart_publish
from creneau.interop.services import feed_import, platform_register
from creneau.vaccines.models import Vaccine
from tests.factories import STAFF, deliver, make_site, open_session

from .test_import import _feed, _location, _schedule, _slot


def test_a_product_without_a_cvx_code_is_published_by_its_eu_number(reference, settings, tmp_path):
    settings.SMART_PUBLISH_DIR = tmp_path
    Vaccine.objects.create(
        code="nuvaxovid",
        name="Nuvaxovid",
        manufacturer="Novavax",
        doses_in_series=1,
        atc_code="J07BX03",
        eu_number="EU/1/21/1618",
    )
    site = make_site()
    for code in ("nuvaxovid", "comirnaty"):
        deliver(site, 100, code=code)
        open_session(site, code=code, lines=1)
    smart_publish()
    schedules = [
        json.loads(line) for line in (tmp_path / "schedules.ndjson").read_text().splitlines()
    ]
    products = {
        s["id"].split("-")[1]: smart.extension_value(s, smart.VACCINE_PRODUCT) for s in schedules
    }
    assert products["nuvaxovid"] == {
        "system": smart.EU_REGISTER,
        "code": "EU/1/21/1618",
        "display": "Nuvaxovid",
    }
    assert products["comirnaty"]["system"] == smart.CVX


def test_another_platforms_product_named_by_its_eu_number_is_recognised(reference, feed_server):
    schedule = _schedule(1)
    schedule["extension"][0]["valueCoding"] = {
        "system": smart.EU_REGISTER,
        "code": "EU/1/20/1507",
    }
    url = _feed(feed_server, locations=[_location(1)], schedules=[schedule], slots=[_slot(1, 1)])
    platform = platform_register(actor=STAFF, name="Rdv Europe", manifest_url=url)
    assert feed_import(platform_id=platform.pk).error == ""
    assert list(ExternalAvailability.objects.values_list("vaccine__code", flat=True)) == [
        "spikevax"
    ]
