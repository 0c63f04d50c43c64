"""A session cancelled from the back office, and the person rebooking from the link in
the message, in a real browser; each page checked by axe-core."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, second_factor_type, staff_app
from tests.factories import open_session, person, two_dose_site, verified_contact


@pytest.fixture
def booked(reference_committed, settings):
    settings.DEMO = True
    site, session = two_dose_site(name="Centre Wagram")
    batignolles, _ = two_dose_site(name="Centre Batignolles", insee_code="75117")
    open_session(batignolles, day=session.date + timedelta(days=2))
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
    app = staff_app("responsable")
    manager = new_page()
    manager.goto(f"{live_server.url}/backoffice/lieux/{site.pk}/?jour={session.date:%Y-%m-%d}")
    manager.get_by_label("Identifiant").fill("responsable")
    manager.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    manager.get_by_role("button", name="Se connecter").click()
    second_factor_type(manager, app)
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
    assert "Livraison de vaccins retardée." in notification_render(notification=message).body
    link = re.search(
        r"https?://\S+/reprendre/ouvrir/#cle=\S+", notification_render(notification=message).body
    )[0]
    phone = new_page(device="phone")
    # The key in the fragment, which portal.js posts: it leaves the address bar.
    phone.goto(live_server.url + urlsplit(link).path + "#" + urlsplit(link).fragment)
    expect(phone.get_by_role("heading", level=1)).to_have_text("Reprendre rendez-vous")
    expect(phone).to_have_url(re.compile(r"/reprendre/\d+/$"))
    expect(phone.get_by_text("Livraison de vaccins retardée.")).to_be_visible()
    axe_check(phone)
    offer = phone.locator("section", has_text="Centre Batignolles")
    expect(offer.get_by_text("Vaccin : Comirnaty")).to_be_visible()
    # Another day than the first offered.
    later = session.date + timedelta(days=2)
    offer.locator(".calendar__day").nth(1).click()
    expect(offer.locator(".calendar__day").nth(1)).to_have_attribute("aria-current", "date")
    offer.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()

    # Nothing is booked until the person has seen what changes and confirmed.
    expect(phone.get_by_role("heading", level=1)).to_have_text("Confirmer le nouveau rendez-vous")
    expect(phone.locator(".appointment--cancelled")).to_have_count(2)
    expect(phone.locator("#nouvelle-dose-2")).to_be_visible()
    axe_check(phone)
    assert not Series.objects.filter(status="active").exists()
    phone.get_by_role("button", name="Confirmer ce rendez-vous").click()
    expect(phone.get_by_text("C'est réservé : voici le nouveau rendez-vous.")).to_be_visible()
    expect(phone.locator(".appointment")).to_have_count(2)
    axe_check(phone)
    active = Series.objects.get(status="active")
    assert active.person.given_name == "Jeanne" and active.site.name == "Centre Batignolles"
    assert active.appointments.get(dose_number=1).slot.date == later

    manager.reload()
    expect(manager.locator("#rebooked")).to_have_text("1")
