"""Sites reserved for some people (health workers, firefighters…): who they are for is
said in words, and asked before anyone types their details."""

import html
import re

import pytest

from creneau.booking.models import Hold
from creneau.sites.importer import HEALTH_PROFESSIONAL
from tests.factories import two_dose_site

QUESTION = "/reserver/situation/"
DETAILS = "/reserver/personne/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_site_the_official_file_reserves_for_health_workers_says_so_in_words(client, reference):
    site, _session = two_dose_site(name="Centre des soignants", restricted_to=[HEALTH_PROFESSIONAL])
    for response in (client.get("/", {"near": "75017"}), client.get(f"/centres/{site.pk}/")):
        text = page_text(response)
        assert "Réservé aux : Professionnel·le de santé ou du médico-social" in text
        assert HEALTH_PROFESSIONAL not in text


@pytest.fixture
def firefighters_only(reference, settings):
    settings.DEMO = True
    return two_dose_site(name="Caserne Champerret", restricted_to=["firefighter"])


def hold_first_slot(client, site, session):
    slot = session.slots.order_by("start").first()
    return client.post("/reserver/", {"slot": slot.pk, "site": site.pk})


def test_a_restricted_site_asks_who_the_person_is_before_their_details(client, firefighters_only):
    site, session = firefighters_only
    response = hold_first_slot(client, site, session)
    assert response["Location"] == QUESTION
    page = page_text(client.get(QUESTION))
    assert "Êtes-vous" in page and "Sapeur-pompier" in page
    # The details wait for the answer.
    assert client.get(DETAILS)["Location"] == QUESTION
    # "Yes" with nothing ticked is asked again.
    response = client.post(QUESTION, {"answer": "yes"})
    assert response.status_code == 400 and "Cochez" in page_text(response)
    response = client.post(QUESTION, {"answer": "yes", "categories": ["firefighter"]})
    assert response["Location"] == DETAILS
    details = page_text(client.get(DETAILS))
    assert re.search(r'value="firefighter"[^>]*checked', details)


def test_someone_the_site_is_not_for_gives_the_place_back_and_searches_again(
    client, firefighters_only
):
    site, session = firefighters_only
    hold_first_slot(client, site, session)
    response = client.post(QUESTION, {"answer": "no"})
    assert response["Location"] == f"/?near={site.postcode}"
    assert not Hold.objects.exists()
    assert sum(session.slots.values_list("booked", flat=True)) == 0
    assert client.get(DETAILS)["Location"] == "/"


def test_a_site_open_to_all_asks_nothing(client, reference):
    site, session = two_dose_site(name="Centre Wagram")
    assert hold_first_slot(client, site, session)["Location"] == DETAILS
    assert client.get(QUESTION)["Location"] == DETAILS
