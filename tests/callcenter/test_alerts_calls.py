"""Alerts at the call centre: an agent subscribes a caller (the mobile read back, no code;
audited), finds the alerts of the caller's phone (the look audited, the number sealed) and
stops one (a staff action, audited once); bad input answered with its message and nothing
changed; a nurse is not an agent."""

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from creneau.alerts.models import Subscription
from creneau.alerts.services import alert_stop
from creneau.audit.models import AuditEvent
from creneau.core.actor import Actor
from creneau.core.errors import NotFound
from creneau.outreach.models import Notification
from creneau.staff.models import StaffProfile
from tests.alerts.helpers import subscribe
from tests.staff_door import staff_sign_in

pytestmark = pytest.mark.django_db

PHONE = "06 98 76 54 32"
E164 = "+33698765432"


def _form(**changes) -> dict:
    return {
        "given_name": "Lucien",
        "family_name": "Petit",
        "birth_date_day": "3",
        "birth_date_month": "2",
        "birth_date_year": "1938",
        "near": "75017",
        "radius_km": "10",
        "vaccine": "comirnaty",
        "dose_number": "1",
        "phone": PHONE,
        **changes,
    }


def _state() -> tuple:
    return (
        Subscription.objects.count(),
        Notification.objects.count(),
        AuditEvent.objects.exclude(action__in=("login", "view")).count(),
    )


def test_an_agent_subscribes_a_caller_without_a_code_and_it_is_audited(agent):
    url = reverse("callcenter:alerts")
    page = agent.get(url)
    assert page.status_code == 200 and "Créer une alerte pour l'appelant" in page.content.decode()

    response = agent.post(url, _form())

    assert response.status_code == 302
    alert = Subscription.objects.get()
    assert (alert.given_name, alert.radius_km, alert.contact.address) == ("Lucien", 10, E164)
    assert Notification.objects.filter(event=f"alert:{alert.pk}:subscribed").exists()
    event = AuditEvent.objects.get(object_type="alerts.subscription")
    assert (event.action, event.actor.username, event.object_id) == (
        "create",
        "agent",
        str(alert.pk),
    )
    shown = unescape(agent.get(url).content.decode())
    assert "L'alerte de Lucien est créée pour 30 jours" in shown


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"radius_km": "500"}, "La distance va de 1 à 50 km."),
        ({"vaccine": "inconnu"}, "Vaccin inconnu"),
        ({"near": "99999"}, ""),
        ({"phone": "01 23 45 67 89"}, ""),
        ({"phone": ""}, "Donnez un numéro de portable ou une adresse e-mail."),
        ({"dose_number": "2"}, "Indiquez la date de la première dose reçue ailleurs."),
    ],
)
def test_bad_input_is_refused_with_its_message_and_changes_nothing(agent, changes, message):
    before = _state()
    response = agent.post(reverse("callcenter:alerts"), _form(**changes))
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert _state() == before


def test_the_same_caller_twice_is_refused_plainly(agent):
    url = reverse("callcenter:alerts")
    assert agent.post(url, _form()).status_code == 302
    before = _state()
    again = agent.post(url, _form(radius_km="20"))
    assert again.status_code == 409
    assert "déjà une alerte" in unescape(again.content.decode())
    assert _state() == before


def test_the_agent_finds_the_callers_alerts_and_the_look_is_audited_sealed(agent):
    mine = subscribe(1, phone=E164)
    relative = subscribe(2, phone=E164)
    subscribe(3)  # another phone's

    page = agent.get(reverse("callcenter:alerts"), {"appelant-phone": PHONE})

    text = unescape(page.content.decode())
    assert page.status_code == 200 and "2 alertes en cours" in text
    assert "Personne1 Alerte" in text and "Personne2 Alerte" in text
    assert "Personne3" not in text
    for alert in (mine, relative):
        assert reverse("callcenter:alert_stop", args=[alert.pk]) in text
    look = AuditEvent.objects.get(action="view", object_type="alerts.subscription")
    assert look.details["subscriptions"] == [mine.pk, relative.pk]
    assert E164 not in str(look.details) and PHONE not in str(look.details)


def test_a_number_nobody_has_finds_no_alert_and_a_bad_one_is_refused(agent):
    url = reverse("callcenter:alerts")
    nobody = agent.get(url, {"appelant-phone": "06 11 22 33 44"})
    assert nobody.status_code == 200
    assert "Aucune alerte en cours" in unescape(nobody.content.decode())
    looks = AuditEvent.objects.filter(action="view", object_type="alerts.subscription")
    assert looks.count() == 1
    refused = agent.get(url, {"appelant-phone": "12"})
    assert refused.status_code == 400
    assert looks.count() == 1  # nothing was looked up


def test_the_agent_stops_an_alert_once_audited_and_again_changes_nothing(agent):
    alert = subscribe(1, phone=E164)
    url = reverse("callcenter:alert_stop", args=[alert.pk])

    done = agent.post(url, follow=True)

    assert "Alerte arrêtée" in unescape(done.content.decode())
    alert.refresh_from_db()
    assert alert.status == Subscription.Status.STOPPED and alert.ended_at is not None
    event = AuditEvent.objects.get(action="change", object_type="alerts.subscription")
    assert (event.actor.username, event.object_id) == ("agent", str(alert.pk))

    again = agent.post(url, follow=True)
    assert "déjà arrêtée ou terminée" in unescape(again.content.decode())
    stops = AuditEvent.objects.filter(action="change", object_type="alerts.subscription")
    assert stops.count() == 1


def test_an_unknown_alert_is_not_found_and_a_nurse_cannot_stop_one(agent, centre):
    assert agent.post(reverse("callcenter:alert_stop", args=[10**9])).status_code == 404
    alert = subscribe(1)
    nurse = Client()
    staff_sign_in(nurse, "nurse")
    assert nurse.post(reverse("callcenter:alert_stop", args=[alert.pk])).status_code == 404
    assert nurse.get(reverse("callcenter:alerts")).status_code == 404
    alert.refresh_from_db()
    assert alert.status == Subscription.Status.ACTIVE


def test_the_service_refuses_an_unknown_alert(centre):
    agent = Actor(user=StaffProfile.objects.get(user__username="agent").user)
    with pytest.raises(NotFound):
        alert_stop(actor=agent, subscription_id=10**9)
    assert not AuditEvent.objects.filter(object_type="alerts.subscription").exists()
