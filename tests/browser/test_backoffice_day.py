"""The day at a site in a real browser: a member of staff signs in, finds the person,
checks them in and records the dose given; each page checked by axe-core."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from creneau.booking.models import Appointment
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Stock
from tests.browser.helpers import axe_check, screenshot
from tests.factories import person, two_dose_site, verified_contact


@pytest.fixture
def today_at_site(reference_committed):
    """Jeanne Martin booked at 9:00 today (booked yesterday evening), and a nurse."""
    site, session = two_dose_site(name="Centre Wagram", dose1_day=timezone.localdate())
    slot = session.slots.order_by("start").first()
    before = slot.start - timedelta(hours=12)
    hold = hold_create(slot_id=slot.pk, now=before).hold
    booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person(), now=before)
    staff_account_create(
        username="infirmiere",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[site],
    )
    return site


def test_a_nurse_checks_a_person_in_and_records_the_dose(page, live_server, today_at_site):
    page.goto(live_server.url + "/backoffice/")
    expect(page).to_have_url(f"{live_server.url}/backoffice/connexion/?next=/backoffice/")
    axe_check(page)
    page.get_by_label("Identifiant").fill("infirmiere")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    axe_check(page)
    page.get_by_role("link", name="Centre Wagram").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Centre Wagram")
    expect(page.get_by_role("cell", name="MARTIN Jeanne")).to_be_visible()
    axe_check(page)

    page.get_by_label("Chercher une personne (nom ou référence)").fill("mart")
    page.get_by_label("Chercher une personne (nom ou référence)").press("Enter")
    page.get_by_role("button", name="Arrivée de Jeanne").click()
    expect(page.get_by_text("Jeanne Martin est arrivé(e).")).to_be_visible()
    expect(page.get_by_role("cell", name="Arrivé", exact=True)).to_be_visible()
    screenshot(page, "backoffice-day")

    committed_before = Stock.objects.get(site=today_at_site).committed
    page.get_by_label("Lot pour Jeanne").fill("FK1234")
    page.get_by_role("button", name="Dose administrée à Jeanne").click()
    expect(page.get_by_text("Dose enregistrée (lot FK1234).")).to_be_visible()
    expect(page.get_by_role("cell", name="Vacciné", exact=True)).to_be_visible()
    axe_check(page)

    dose1 = Appointment.objects.get(dose_number=1)
    assert dose1.status == "fulfilled" and dose1.administration.lot == "FK1234"
    assert dose1.administration.given_by.username == "infirmiere"
    stock = Stock.objects.get(site=today_at_site)
    assert (stock.committed, stock.given) == (committed_before - 1, 1)
