"""The page where a site's manager puts a dose's record right, reached from the list of the
day: each form one staff action, refusals said on the page, the history shown."""

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment
from creneau.booking.services import booking_confirm, hold_create
from creneau.care.models import Administration
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.services import delivery_record
from tests.factories import at, person, tomorrow, two_dose_site, vaccine, verified_contact
from tests.staff_door import staff_sign_in

DAY = tomorrow()
Role = StaffProfile.Role


@pytest.fixture
def given(reference, client, monkeypatch):
    """Jeanne Martin's dose 1 recorded at 9:05 with lot ZZ999 (confirmed as lent, by
    mistake: the site received SP3456); the site's manager signed in at noon."""
    site, session = two_dose_site(dose1_day=DAY)
    delivery_record(
        site=site,
        vaccine=vaccine(),
        quantity=50,
        expected_on=DAY,
        lot="SP3456",
        received_at=at(DAY, 7),
    )
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk, now=at(DAY, 8)).hold
    result = booking_confirm(
        hold_id=hold.pk, contact=verified_contact(), person=person(), now=at(DAY, 8)
    )
    dose1 = min(result.appointments, key=lambda a: a.dose_number)
    nurse = staff_account_create(
        username="nurse", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[site]
    )
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="ZZ999",
        lot_lent=True,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    staff_account_create(
        username="manager", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, 12))
    sign_in(client, "manager")
    return site, dose1


def sign_in(client, username: str) -> None:
    response = staff_sign_in(client, username)
    assert response.status_code == 302


def page_url(site, dose1) -> str:
    return reverse("backoffice:dose_correct", args=[site.pk, dose1.pk])


def back_to_the_row(site, dose1, query: str = "") -> str:
    url = reverse("backoffice:site_day", args=[site.pk])
    return f"{url}?jour={DAY.isoformat()}{query}#rdv-{dose1.pk}"


def test_the_day_list_offers_the_correction_to_the_manager_only(client, given):
    site, dose1 = given
    day = reverse("backoffice:site_day", args=[site.pk])
    page = client.get(day, {"jour": DAY.isoformat(), "q": "martin"}).content.decode()
    assert f'href="{page_url(site, dose1)}?q=martin"' in page
    assert 'Corriger<span class="fr-sr-only"> la dose de Jeanne Martin, 9 h 00</span>' in page
    client.logout()
    sign_in(client, "nurse")
    assert page_url(site, dose1) not in client.get(day, {"jour": DAY.isoformat()}).content.decode()
    assert client.get(page_url(site, dose1)).status_code == 404
    response = client.post(page_url(site, dose1), {"action": "erreur", "motif": "Essai."})
    assert response.status_code == 404
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"


def test_the_page_shows_the_record_and_its_look_is_audited(client, given):
    site, dose1 = given
    page = client.get(page_url(site, dose1)).content.decode()
    assert "ZZ999" in page and "prêté par un autre lieu" in page and "09:05" in page
    event = AuditEvent.objects.get(action="view", actor__username="manager")
    assert (event.object_type, event.object_id) == ("booking.appointment", str(dose1.pk))


def test_a_lot_corrected_goes_back_to_the_row_and_stays_in_the_history(client, given):
    site, dose1 = given
    data = {"action": "lot", "lot": "SP3456", "motif": "Faute de frappe.", "q": "martin"}
    response = client.post(page_url(site, dose1), data)
    assert response.status_code == 302
    assert response["Location"] == back_to_the_row(site, dose1, "&q=martin")
    assert Administration.objects.get().lot == "SP3456"
    history = client.get(page_url(site, dose1)).content.decode()
    assert "Lot corrigé : ZZ999 → SP3456" in history and "Faute de frappe." in history


def test_a_lot_never_received_asks_for_the_box_on_the_page(client, given):
    site, dose1 = given
    data = {"action": "lot", "lot": "ZZ998", "motif": "Autre lot prêté."}
    response = client.post(page_url(site, dose1), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Lot ZZ998 non reçu sur ce lieu" in page and 'name="lot_prete"' in page
    assert 'value="ZZ998"' in page and 'value="Autre lot prêté."' in page
    assert Administration.objects.get().lot == "ZZ999"
    response = client.post(page_url(site, dose1), {**data, "lot_prete": "1"})
    assert response.status_code == 302
    assert Administration.objects.get().lot == "ZZ998"


def test_the_time_corrected_is_the_local_time_typed_on_the_appointments_day(client, given):
    site, dose1 = given
    data = {"action": "heure", "heure": "09:20", "motif": "Saisie en retard."}
    assert client.post(page_url(site, dose1), data).status_code == 302
    assert Administration.objects.get().given_at == at(DAY, 9, 20)
    response = client.post(page_url(site, dose1), {**data, "heure": "25:00"})
    assert response.status_code == 400 and "Heure invalide" in response.content.decode()


def test_a_withdrawal_needs_a_reason_then_takes_the_dose_back(client, given):
    site, dose1 = given
    response = client.post(page_url(site, dose1), {"action": "erreur", "motif": " "})
    assert response.status_code == 400
    assert "motif de la correction" in response.content.decode()
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"
    response = client.post(page_url(site, dose1), {"action": "erreur", "motif": "Pas injectée."})
    assert response["Location"] == back_to_the_row(site, dose1)
    assert Appointment.objects.get(pk=dose1.pk).status == "booked"
    page = client.get(page_url(site, dose1)).content.decode()
    assert "Aucune dose n'est enregistrée pour ce rendez-vous." in page
    assert "Enregistrée par erreur" in page and "Dose enregistrée : lot ZZ999" in page


def test_an_unknown_action_is_refused_on_the_page(client, given):
    site, dose1 = given
    response = client.post(page_url(site, dose1), {"action": "effacer", "motif": "R."})
    assert response.status_code == 400 and "Action inconnue" in response.content.decode()
    assert not AuditEvent.objects.filter(action="change").exists()
