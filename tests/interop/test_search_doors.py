"""Other platforms' places in the national search, on the portal and through the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.interop.models import ExternalPlatform
from tests.factories import deliver, make_site, open_session

from .test_import import _good_feed, platform  # noqa: F401 (fixture)


@pytest.fixture
def ours(reference):
    site = make_site(name="Centre Paris 4", insee_code="75104")
    deliver(site, 100)
    open_session(site)
    return site


def test_the_portal_lists_other_platforms_places_by_distance_with_their_link(
    client,
    ours,
    platform,  # noqa: F811
):
    page = client.get("/", {"near": "75004", "radius_km": 10})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Centre Paris 4" in html
    assert "Prendre rendez-vous sur Rdv Exemple" in html
    assert 'href="https://rdv.example.org/book?slot=1-1"' in html
    assert "Pharmacie du Marais 1" in html and "Pharmacie du Marais 2" in html
    assert "Disponibilités non confirmées" not in html
    # Nobody books it here: no slot form for it, and it comes by distance among ours.
    external = html.split('class="result result--external')[1].split("</li>")[0]
    assert "<form" not in external and "Pharmacie du Marais 1" in external
    assert html.index("Centre Paris 4") < html.index("Pharmacie du Marais 2")


def test_a_failing_platform_shows_not_confirmed_with_its_last_good_read(
    client,
    ours,
    platform,  # noqa: F811
):
    ExternalPlatform.objects.filter(pk=platform.pk).update(
        last_error="Réponse 500", last_error_at=timezone.now() + timedelta(seconds=1)
    )
    html = client.get("/", {"near": "75004", "radius_km": 10}).content.decode()
    assert "Disponibilités non confirmées" in html
    assert "au dernier relevé" in html
    assert "Prendre rendez-vous sur Rdv Exemple" in html


def test_the_api_answers_other_platforms_places_beside_ours(client, ours, platform):  # noqa: F811
    answer = client.get("/api/v1/sites", {"near": "75004", "radius_km": 10})
    assert answer.status_code == 200
    body = answer.json()
    assert [r["name"] for r in body["results"]] == ["Centre Paris 4"]
    elsewhere = body["elsewhere"]
    assert [e["name"] for e in elsewhere] == ["Pharmacie du Marais 1", "Pharmacie du Marais 2"]
    assert [e["distance_km"] for e in elsewhere] == sorted(e["distance_km"] for e in elsewhere)
    first = elsewhere[0]
    assert first["platform"] == "Rdv Exemple"
    assert first["booking_url"] == "https://rdv.example.org/book?slot=1-1"
    assert first["confirmed"] is True
    assert first["available_slots"] == 4
    assert first["vaccines"] == [{"code": "comirnaty", "name": "Comirnaty"}]
    assert first["site_id"] is None


def test_a_vaccine_filter_applies_to_other_platforms_too(client, ours, platform):  # noqa: F811
    answer = client.get("/api/v1/sites", {"near": "75004", "radius_km": 10, "vaccine": "spikevax"})
    assert answer.json()["elsewhere"] == []
