"""A session cancelled from the back office, and the person rebooking from the link in
the message, in a real browser; each page checked by axe-core."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check
from tests.factories import person, two_dose_site, verified_contact


@pytest.fixture
def booked(reference_committed, settings):
    settings.DEMO = True
    site, session = two_dose_site(name="Centre Wagram")
    two_dose_site(name="Centre Batignolles", insee_code="75117")
    slot = session.slots.order_by("start").first()
    booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact("+33612345678"),
        person=person(),
    )
    staff_account_create(
        username="responsable",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_MANAGER,
        sites=[site],
    )
    return site, session


def test_a_manager_cancels_a_session_and_the_person_rebooks_from_the_message(
    new_page, live_server, booked
):
    site, session = booked
    manager = new_page()
    manager.goto(f"{live_server.url}/backoffice/lieux/{site.pk}/?jour={session.date:%Y-%m-%d}")
    manager.get_by_label("Identifiant").fill("responsable")
    manager.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    manager.get_by_role("button", name="Se connecter").click()
    manager.get_by_role("link", name="Annuler la session de 09:00").click()
    expect(manager.get_by_text("1 personne sera prévenue")).to_be_visible()
    axe_check(manager)
    manager.get_by_label("Raison, dite aux personnes").fill("Livraison de vaccins retardée.")
    manager.get_by_role("button", name="Annuler et prévenir les personnes").click()
    expect(manager.get_by_role("heading", level=1)).to_have_text("Annulation faite")
    expect(manager.locator("#notified")).to_have_text("1")
    expect(manager.locator("#rebooked")).to_have_text("0")
    axe_check(manager)
    assert Series.objects.get().status == "cancelled"

    # The person reads the SMS (the demo outbox) and follows its link.
    message = Notification.objects.get(kind="booking_cancelled")
    assert "Livraison de vaccins retardée." in message.body
    link = re.search(r"https?://\S+/reprendre/\S+/", message.body)[0]
    phone = new_page(device="phone")
    phone.goto(live_server.url + urlsplit(link).path)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Reprendre rendez-vous")
    expect(phone.get_by_text("Livraison de vaccins retardée.")).to_be_visible()
    axe_check(phone)
    phone.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(phone.get_by_text("C'est réservé : voici le nouveau rendez-vous.")).to_be_visible()
    expect(phone.locator(".appointment")).to_have_count(2)
    axe_check(phone)
    active = Series.objects.get(status="active")
    assert active.person.given_name == "Jeanne" and active.site.name == "Centre Batignolles"

    manager.reload()
    expect(manager.locator("#rebooked")).to_have_text("1")
