"""The alerts' public pages: subscribing with a code, one's alerts seen and stopped after a
code, the link of an alert (its key posted from the fragment); bad input answered with its
message and nothing changed."""

import re

import pytest

from creneau.alerts.models import Subscription
from creneau.alerts.services import alerts_run
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.alerts.helpers import alerts_sent, janssen_site, open_places, stop_key

pytestmark = pytest.mark.django_db


def _form(**changes) -> dict:
    data = {
        "given_name": "Jeanne",
        "family_name": "Martin",
        "birth_date_day": "3",
        "birth_date_month": "2",
        "birth_date_year": "1940",
        "near": "75017",
        "radius_km": "10",
        "vaccine": "janssen",
        "dose_number": "1",
        "dose1_on": "",
        "phone": "06 12 34 56 78",
    }
    return {**data, **changes}


def _code(client, url: str = "/alertes/code/") -> None:
    message = Notification.objects.filter(kind="verification_code").last()
    code = re.search(r"\b(\d{6})\b", notification_render(notification=message).body)[1]
    response = client.post(url, {"code": code})
    assert response.status_code == 302 and response["Location"] == "/alertes/"


def test_subscribing_with_a_code_then_stopping_from_the_page(client, reference):
    page = client.get("/")
    assert 'href="/alertes/"' in page.content.decode()
    assert client.get("/alertes/").status_code == 200
    response = client.post("/alertes/", _form())
    assert response.status_code == 302 and response["Location"] == "/alertes/code/"
    _code(client)
    subscription = Subscription.objects.get()
    assert (subscription.given_name, subscription.radius_km, subscription.vaccine.code) == (
        "Jeanne",
        10,
        "janssen",
    )
    page = client.get("/alertes/").content.decode()
    assert "Arrêter l'alerte de Jeanne" in page
    response = client.post("/alertes/arreter-une/", {"subscription": str(subscription.pk)})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.STOPPED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"radius_km": "0"}, "La distance va de 1 à 50 km."),
        ({"radius_km": "500"}, "La distance va de 1 à 50 km."),
        ({"vaccine": "vaccin-miracle"}, "Vaccin inconnu"),
        ({"dose_number": "2"}, "Indiquez la date de la première dose"),
    ],
)
def test_bad_input_is_answered_on_its_field_and_sends_no_code(client, reference, changes, message):
    response = client.post("/alertes/", _form(**changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Notification.objects.exists()
    assert not Subscription.objects.exists()


def test_the_link_of_an_alert_stops_it_and_a_forged_one_changes_nothing(client, reference):
    client.post("/alertes/", _form())
    _code(client)
    open_places(janssen_site())
    alerts_run()
    key = stop_key(alerts_sent().get())
    page = client.get("/alertes/arreter/").content.decode()
    # The key is never in the address: the page's form gets it from the fragment.
    assert "data-open-link" in page and "Gérer mes alertes" in page

    response = client.post("/alertes/arreter/", {"cle": key[:-2] + "zz"})
    assert response.status_code == 400
    assert "pas valable" in response.content.decode()
    assert Subscription.objects.get().status == "active"

    response = client.post("/alertes/arreter/", {"cle": key})
    assert response.status_code == 200
    assert "vous ne recevrez plus ces alertes" in response.content.decode()
    assert Subscription.objects.get().status == "stopped"


def test_managing_alerts_from_another_browser_takes_a_code(client, reference):
    client.post("/alertes/", _form())
    _code(client)
    client.cookies.clear()
    page = client.get("/alertes/").content.decode()
    assert "Arrêter l'alerte" not in page
    response = client.post("/alertes/gerer/", {"gerer-phone": "06 12 34 56 78"})
    assert response.status_code == 302
    _code(client)
    assert "Arrêter l'alerte de Jeanne" in client.get("/alertes/").content.decode()
    # Someone else's alert id: nothing stops.
    other = Subscription.objects.get().pk + 1000
    client.post("/alertes/arreter-une/", {"subscription": str(other)})
    response = client.post("/alertes/arreter-une/", {"subscription": "abc"})
    assert response.status_code == 400
    assert Subscription.objects.get().status == "active"
