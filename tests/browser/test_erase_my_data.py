"""A person reads what is held about them and erases it, from their booking's page opened
by the link in their message, on a phone; each page checked by axe-core."""

import pytest
from playwright.sync_api import expect

from creneau.booking import tokens
from creneau.booking.models import Person, Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.outreach.models import Notification
from tests.browser.helpers import axe_check
from tests.factories import person, two_dose_site, verified_contact


@pytest.fixture
def booked(reference_committed):
    _site, session = two_dose_site(name="Centre Wagram")
    slot = session.slots.order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact("+33612345678"),
        person=person(),
    )


def test_a_person_reads_their_data_then_erases_it(new_page, live_server, booked):
    display = tokens.reference_display(booked.series.reference)
    phone = new_page(device="phone")
    phone.goto(f"{live_server.url}/rendez-vous/{display}/?cle={booked.management_token}")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")

    phone.get_by_role("link", name="Mes données", exact=True).click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Ce que nous conservons")
    expect(phone.get_by_text("06 12 34 56 78")).to_be_visible()
    expect(phone.get_by_text("Dose 1 :")).to_contain_text("Réservé")
    axe_check(phone)

    phone.get_by_role("link", name="Effacer mes données").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Effacer les données de cette personne ?"
    )
    axe_check(phone)
    assert Person.objects.count() == 1  # nothing before the confirmation
    phone.get_by_role("button", name="Oui, effacer").click()

    expect(phone.get_by_text("Vos données sont effacées.")).to_be_visible()
    axe_check(phone)
    assert not Person.objects.exists() and not Series.objects.exists()
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1
    # The booking's page no longer opens in this browser.
    phone.goto(f"{live_server.url}/rendez-vous/{display}/")
    expect(phone.get_by_role("heading", level=1)).not_to_have_text("Rendez-vous confirmé")
