"""What each search result says besides its slots: the products it has places for and
the site's phone; read with the results, not a query each."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from creneau.booking.services import hold_create
from tests.factories import deliver, open_session, tomorrow, two_dose_site


@pytest.fixture
def two_products(reference):
    site, _session = two_dose_site(name="Centre Wagram", phone="+33145678901")
    deliver(site, 100, code="janssen")
    open_session(site, code="janssen", day=tomorrow(2))
    return site


def test_a_result_names_its_products_and_its_phone_as_a_link(client, two_products):
    page = client.get("/", {"near": "75017"}).content.decode()

    result = page[page.index("Centre Wagram") :]
    assert "Vaccins : COVID-19 Vaccine Janssen, Comirnaty" in result.split("</li>")[0]
    assert '<a href="tel:+33145678901">01 45 67 89 01</a>' in result.split("</li>")[0]


def test_a_product_without_free_places_is_not_named(client, reference):
    site, _session = two_dose_site(name="Centre Wagram")
    deliver(site, 10, code="janssen")
    only = open_session(site, code="janssen", day=tomorrow(2), end=time(9, 10), lines=1)
    hold_create(slot_id=only.slots.get().pk)

    page = client.get("/", {"near": "75017"}).content.decode()

    assert "Vaccin : Comirnaty" in page and "Vaccins :" not in page


def test_a_site_without_a_phone_says_nothing_of_one(client, reference):
    two_dose_site(name="Centre Wagram")
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Téléphone du lieu" not in page


def queries_for_a_search(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/", {"near": "75017"}).status_code == 200
    return len(queries)


def test_more_results_take_no_more_queries(client, reference):
    two_dose_site(name="Centre 1", phone="+33145678901")
    queries_for_a_search(client)  # a process's first search reads other platforms' snapshot
    few = queries_for_a_search(client)
    for number in range(2, 6):
        site, _session = two_dose_site(name=f"Centre {number}", phone="+33145678901")
        deliver(site, 100, code="janssen")
        open_session(site, code="janssen", day=tomorrow(number) + timedelta(days=1))

    page = client.get("/", {"near": "75017"}).content.decode()
    assert page.count("Vaccins : ") == 4 and page.count('href="tel:+33145678901"') == 5
    assert queries_for_a_search(client) == few
