"""Every page that shows a site's summary says who a restricted site is for, whatever its
view put in the context (the rebooking page answered a 500 for want of the labels)."""

import pytest

from tests.factories import person, tomorrow, two_dose_site
from tests.portal.helpers import cancelled_link

FOR_CAREGIVERS = "Réservé aux : Professionnel·le de santé ou du médico-social"


@pytest.fixture
def restricted(reference, settings):
    settings.DEMO = True
    site, _session = two_dose_site(
        name="Centre des soignants", restricted_to=["caregiver"], dose1_day=tomorrow()
    )
    return site


def test_the_search_results(client, restricted):
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Centre des soignants" in page and FOR_CAREGIVERS in page


def test_the_site_page(client, restricted):
    response = client.get(f"/centres/{restricted.pk}/")
    assert response.status_code == 200 and FOR_CAREGIVERS in response.content.decode()


def test_the_rebooking_page(client, restricted):
    site, session = two_dose_site(name="Centre Wagram", dose1_day=tomorrow())
    link = cancelled_link(client, site, session, who=person(categories=("caregiver",)))

    response = client.get(link)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Centre des soignants" in page and FOR_CAREGIVERS in page


def test_the_rebooking_confirmation(client, restricted):
    site, session = two_dose_site(name="Centre Wagram", dose1_day=tomorrow())
    link = cancelled_link(client, site, session, who=person(categories=("caregiver",)))
    slot = restricted.slots.filter(dose_number=1).first()

    response = client.get(link, {"creneau": slot.pk})

    page = response.content.decode()
    assert response.status_code == 200
    assert "Confirmer le nouveau rendez-vous" in page and FOR_CAREGIVERS in page


@pytest.mark.parametrize("answer", ["oui", "OUI", "Oui."])
def test_a_site_that_only_answered_yes_is_said_accessible_in_a_sentence(client, reference, answer):
    site, _session = two_dose_site(name="Centre Wagram", accessibility=answer)
    page = client.get(f"/centres/{site.pk}/").content.decode()
    assert "Accessible aux personnes à mobilité réduite" in page
    assert f"Accessibilité : {answer}" not in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = client.get(f"/centres/{site.pk}/").content.decode()
    # Never the French answer in an English sentence ("Accessibility: oui").
    assert f"Accessibility: {answer}" not in english and f": {answer}<" not in english


def test_a_site_that_answered_no_is_said_not_accessible(client, reference):
    site, _session = two_dose_site(name="Centre Wagram", accessibility="NON")
    page = client.get(f"/centres/{site.pk}/").content.decode()
    assert "Non accessible aux personnes à mobilité réduite" in page


def test_a_site_that_described_its_access_keeps_its_words(client, reference):
    site, _session = two_dose_site(name="Centre Wagram", accessibility="Plain-pied, rampe")
    page = client.get(f"/centres/{site.pk}/").content.decode()
    assert "Accessibilité : Plain-pied, rampe" in page
