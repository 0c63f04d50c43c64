"""What the public sees of the authorities' schedule: the next opening of vaccination on
the home page and in a refusal (the portal's and the API's), and, in a department whose
sites are not published yet, when they will be instead of "no site"."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from creneau.eligibility.selectors import rules_cache_clear
from creneau.sites.models import DepartmentPublication, Site
from tests.api.test_booking_api import ADULT, contact_token
from tests.factories import make_site, two_dose_site

OPENING = "Prochaine ouverture de la vaccination"


@pytest.fixture
def over_75_next_year(reference):
    """Only the over-75s, from 18 January next year at 0 h; no rule in force before."""
    EligibilityRule.objects.update(active=False)
    opens = (
        timezone.now()
        .astimezone(RULES_TIMEZONE)
        .replace(
            year=timezone.localdate().year + 1,
            month=1,
            day=18,
            hour=0,
            minute=0,
            second=0,
            microsecond=0,
        )
    )
    EligibilityRule.objects.create(
        name="75 ans et plus",
        slug="75-ans",
        explanation="Les personnes de 75 ans et plus",
        explanation_en="People aged 75 and over",
        min_age=75,
        effective_from=opens,
    )
    rules_cache_clear()
    yield opens
    rules_cache_clear()


def said(opens) -> str:
    weekday = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    return (
        f"À partir du {weekday[opens.weekday()]} 18 janvier {opens.year} à 0 h : "
        "les personnes de 75 ans et plus"
    )


def test_the_home_page_announces_the_next_opening(client, over_75_next_year):
    page = client.get("/").content.decode()
    assert OPENING in page and said(over_75_next_year) in page


def test_the_home_page_announces_nothing_when_nothing_is_scheduled(client, reference):
    assert OPENING not in client.get("/").content.decode()


def test_the_eligibility_answer_names_the_opening(client, over_75_next_year):
    page = client.get(
        "/eligibilite/",
        {"birth_date_day": "1", "birth_date_month": "3", "birth_date_year": "1945"},
    ).content.decode()
    assert said(over_75_next_year) in page


def test_the_apis_refusal_names_the_opening(client, over_75_next_year, settings):
    settings.DEMO = True
    _site, session = two_dose_site()
    token = contact_token(client)
    hold = client.post(
        "/api/v1/holds", {"slot_id": session.slots.order_by("start").first().pk}, "application/json"
    ).json()
    refused = client.post(
        "/api/v1/bookings",
        {"hold_id": hold["id"], "contact_token": token, "person": ADULT},
        "application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 403
    assert said(over_75_next_year) in refused.json()["detail"]


def test_a_search_in_a_department_not_yet_open_says_when_it_opens(client, reference):
    make_site(status=Site.Status.DRAFT)
    hour = (timezone.now() + timedelta(days=2)).replace(hour=7, minute=0, second=0, microsecond=0)
    DepartmentPublication.objects.create(department_id="75", publish_at=hour)
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Les lieux de vaccination du département Paris (75) ouvrent à la réservation" in page
    assert "Aucun créneau libre à moins de" not in page
    body = client.get("/api/v1/sites", {"near": "75017"}).json()
    assert body["results"] == []
    assert body["department_opening"]["department"] == "75"
    assert body["department_opening"]["opens_at"].startswith(hour.isoformat()[:16])


def test_a_search_in_an_open_department_announces_no_opening(client, reference):
    make_site()
    body = client.get("/api/v1/sites", {"near": "75017"}).json()
    assert body["department_opening"] is None
    assert "ouvrent à la réservation" not in client.get("/", {"near": "75017"}).content.decode()
