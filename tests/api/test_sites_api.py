from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from creneau.sites.models import Site
from tests.factories import deliver, make_site, open_session, tomorrow


@pytest.fixture
def paris_sites(reference):
    open_one = make_site(name="Centre Paris 17", phone="+33140000000")
    deliver(open_one, 1000)
    open_session(open_one, start=time(9), end=time(10), lines=2)
    open_session(open_one, code="comirnaty", dose_number=2, day=tomorrow(30))
    empty = make_site(name="Pharmacie Batignolles", kind=Site.Kind.PHARMACY, insee_code="75118")
    return open_one, empty


def test_search_near_a_postcode(client, paris_sites):
    open_one, empty = paris_sites
    response = client.get("/api/v1/sites", {"near": "75017"})
    assert response.status_code == 200
    body = response.json()
    assert body["near"]["label"] == "75017 Paris 17e Arrondissement"
    first, second = body["results"]
    assert first["id"] == open_one.pk
    assert first["available_slots"] == 24
    assert first["next_slot_at"].startswith(tomorrow().isoformat())
    assert first["distance_km"] == 0
    assert first["city"] == "Paris 17e Arrondissement"
    assert first["phone"] == "+33140000000"
    assert second["id"] == empty.pk and second["available_slots"] == 0
    assert second["kind"] == "pharmacy" and second["kind_label"] == "Pharmacie"


def test_a_result_names_its_vaccines_with_free_places_and_its_phone(client, paris_sites):
    """What the portal's results show, for other systems too."""
    open_one, _empty = paris_sites
    deliver(open_one, 100, code="janssen")
    open_session(open_one, code="janssen", day=tomorrow(2), lines=1)
    first, second = client.get("/api/v1/sites", {"near": "75017"}).json()["results"]
    assert first["vaccines"] == [
        {"code": "janssen", "name": "COVID-19 Vaccine Janssen"},
        {"code": "comirnaty", "name": "Comirnaty"},
    ]
    assert first["phone"] == "+33140000000"
    assert second["vaccines"] == [] and second["phone"] == ""
    only = client.get("/api/v1/sites", {"near": "75017", "vaccine": "janssen"}).json()
    janssen = {"code": "janssen", "name": "COVID-19 Vaccine Janssen"}
    assert only["results"][0]["vaccines"] == [janssen]


def test_a_search_reads_as_many_queries_for_ten_results_as_for_one(
    client, reference, django_assert_num_queries
):
    """The products and the phone come with the search's own queries, none per result."""

    def site_with_two_products(number: int) -> None:
        site = make_site(name=f"Centre {number}", phone="+33140000000")
        for code in ("comirnaty", "janssen"):
            deliver(site, 100, code=code)
            open_session(site, code=code, lines=1)

    site_with_two_products(0)
    params = {"near": "75017", "radius_km": 5}
    # A process's first search reads the snapshot of other platforms' places (interop).
    client.get("/api/v1/sites", params)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/sites", params).json()["results"]) == 1
    for number in range(1, 10):
        site_with_two_products(number)
    with django_assert_num_queries(len(one)):
        results = client.get("/api/v1/sites", params).json()["results"]
    assert len(results) == 10
    assert {len(result["vaccines"]) for result in results} == {2}


def test_search_by_town_coordinates_and_filters(client, paris_sites):
    by_town = client.get("/api/v1/sites", {"near": "Paris", "dose": 2})
    assert by_town.status_code == 200
    assert by_town.json()["results"][0]["available_slots"] == 12
    params = {"near": "48.8873,2.3075", "vaccine": "comirnaty", "from": tomorrow(2).isoformat()}
    later = client.get("/api/v1/sites", params).json()
    assert later["results"][0]["available_slots"] == 12
    assert client.get("/api/v1/sites", {"near": "75017", "limit": 1}).json()["results"] == [
        client.get("/api/v1/sites", {"near": "75017"}).json()["results"][0]
    ]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 422, ""),
        ({"near": "99999"}, 400, "Code postal inconnu"),
        ({"near": "Saint-Denis"}, 400, "Plusieurs communes"),
        ({"near": "95,2"}, 400, "hors limites"),
        ({"near": "75017", "radius_km": "far"}, 422, ""),
        ({"near": "75017", "radius_km": "1e9"}, 400, "rayon"),
        ({"near": "75017", "radius_km": "nan"}, 400, "rayon"),
        ({"near": "75017", "limit": "-1"}, 400, "résultats"),
        ({"near": "75017", "limit": "99999999999999999999999"}, 400, "résultats"),
        ({"near": "75017", "vaccine": "sputnik"}, 400, "Vaccin inconnu"),
        ({"near": "75017", "dose": "7"}, 400, "dose"),
        ({"near": "75017", "from": "2020-01-01"}, 400, "passée"),
        ({"near": "75017", "from": "yesterday"}, 422, ""),
        ({"near": "75017", "from": "2020-02-31"}, 422, ""),
        ({"near": "x" * 100_000}, 400, "trop longue"),
        ({"near": "\x00"}, 400, "contrôle"),
        ({"near": "75017", "vaccine": "\x00" * 50}, 400, "Vaccin inconnu"),
    ],
)
def test_bad_searches_get_a_4xx_with_a_message(client, paris_sites, params, status, message):
    response = client.get("/api/v1/sites", params)
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail
    assert message in str(detail)


def test_ambiguous_town_lists_candidates(client, reference):
    body = client.get("/api/v1/sites", {"near": "Saint-Denis"}).json()
    assert body["code"] == "place_ambiguous"
    assert {"93", "974"} <= {c["department"] for c in body["candidates"]}


def test_site_detail_with_its_calendar(client, paris_sites):
    open_one, _ = paris_sites
    body = client.get(f"/api/v1/sites/{open_one.pk}").json()
    assert body["name"] == "Centre Paris 17"
    assert body["days"] == [
        {"date": tomorrow().isoformat(), "vaccine": "comirnaty", "dose": 1, "available": 12},
        {"date": tomorrow(30).isoformat(), "vaccine": "comirnaty", "dose": 2, "available": 12},
    ]


def test_unknown_draft_and_closed_sites_are_all_not_found(client, reference):
    draft = make_site(status=Site.Status.DRAFT)
    closed = make_site(status=Site.Status.CLOSED)
    for site_id in (draft.pk, closed.pk, 999_999):
        response = client.get(f"/api/v1/sites/{site_id}")
        assert response.status_code == 404
        assert response.json()["detail"] == f"Lieu de vaccination introuvable : {site_id}."
        assert client.get(f"/api/v1/sites/{site_id}/slots").status_code == 404
    assert client.get("/api/v1/sites/abc").status_code == 404


def test_slots_of_a_day(client, paris_sites):
    open_one, _ = paris_sites
    first_day = client.get(f"/api/v1/sites/{open_one.pk}/slots").json()
    assert first_day["date"] == tomorrow().isoformat()
    assert len(first_day["results"]) == 6
    slot = first_day["results"][0]
    assert (slot["vaccine"], slot["dose"], slot["available"]) == ("comirnaty", 1, 2)
    assert slot["start"] < slot["end"]
    params = {"date": tomorrow(30).isoformat(), "dose": 2}
    assert len(client.get(f"/api/v1/sites/{open_one.pk}/slots", params).json()["results"]) == 6
    empty = client.get(f"/api/v1/sites/{open_one.pk}/slots", {"date": tomorrow(2).isoformat()})
    assert empty.status_code == 200 and empty.json()["results"] == []
    bad = client.get(f"/api/v1/sites/{open_one.pk}/slots", {"date": "2020-01-01"})
    assert bad.status_code == 400


def test_openapi_document_is_served(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/sites", "/api/v1/sites/{site_id}", "/api/v1/sites/{site_id}/slots"} <= set(
        paths
    )


def test_the_same_search_within_a_second_is_answered_from_the_cache(
    client, paris_sites, settings, django_assert_num_queries
):
    settings.API_CACHE_SECONDS = 1
    first = client.get("/api/v1/sites", {"near": "75017", "limit": 3})
    with django_assert_num_queries(0):
        again = client.get("/api/v1/sites", {"near": "75017", "limit": 3})
    assert again.json() == first.json()
    other = client.get("/api/v1/sites", {"near": "75017", "limit": 2})
    assert len(other.json()["results"]) == 2


def test_a_cached_answer_has_the_bytes_of_an_uncached_one(client, paris_sites, settings):
    query = {"near": "75017", "limit": 3, "vaccine": "comirnaty"}
    plain = client.get("/api/v1/sites", query)
    settings.API_CACHE_SECONDS = 5
    first = client.get("/api/v1/sites", query)  # checked against the schema, written, kept
    again = client.get("/api/v1/sites", query)  # this process's copy
    assert plain.status_code == first.status_code == again.status_code == 200
    assert plain.json()["results"]
    assert plain.content == first.content == again.content
    assert plain["Content-Type"] == first["Content-Type"] == again["Content-Type"]


def test_a_cached_site_answer_has_the_bytes_of_an_uncached_one(client, paris_sites, settings):
    # The cache writes the view's dict as it is, without the schema's validation: the
    # same bytes prove the dict holds exactly the schema's fields, in its types.
    url = f"/api/v1/sites/{paris_sites[0].pk}"
    plain = client.get(url)
    settings.API_CACHE_SECONDS = 5
    cached = client.get(url)
    assert plain.status_code == cached.status_code == 200
    assert plain.json()["days"]
    assert plain.content == cached.content
