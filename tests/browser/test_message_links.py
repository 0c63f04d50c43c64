"""The link in a confirmation message carries its key in the fragment, which no server
receives: with JavaScript the page posts it and the booking opens, the key gone from the
address bar; without, the page says why and offers a code instead."""

import re

from playwright.sync_api import expect

from creneau.booking.services import booking_confirm, hold_create
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.browser.helpers import axe_check
from tests.factories import person, two_dose_site, verified_contact


def confirmation_link(live_server) -> str:
    _site, session = two_dose_site(name="Centre Wagram")
    booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk).hold.pk,
        contact=verified_contact(),
        person=person(),
    )
    body = notification_render(notification=Notification.objects.get(kind="booking_confirmed")).body
    return live_server.url + re.search(r"https?://[^/]+(/rendez-vous/\S+)", body)[1]


def test_the_link_opens_the_booking_and_the_key_leaves_the_address_bar(
    new_page, live_server, reference
):
    link = confirmation_link(live_server)
    assert "/ouvrir/#cle=" in link
    page = new_page(device="phone")

    page.goto(link)

    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    expect(page).to_have_url(re.compile(r"/rendez-vous/[0-9A-Z-]+/$"))
    axe_check(page)
    page.go_back()
    assert "cle=" not in page.url


def test_without_javascript_the_link_offers_a_code(new_page, live_server, reference):
    link = confirmation_link(live_server)
    page = new_page(javascript_enabled=False, device="phone")

    page.goto(link)

    expect(page.get_by_role("heading", level=1)).to_have_text("Ouvrir votre rendez-vous")
    expect(page.get_by_text("votre navigateur n'exécute pas JavaScript")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Recevoir un code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gérer un rendez-vous")
    assert page.get_by_label("Référence").input_value()
