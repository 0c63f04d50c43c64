"""Joining the waiting list for leftover doses and accepting an offer, on a 375-px phone,
with and without JavaScript: the link from the home page, a radius of 500 km said on its
field, the code, the entry's page; then a site declares doses and the offer's link (its
key in the fragment: posted by the page's script, or pasted without JavaScript) books the
place. Each page checked by axe and for its tap targets."""

import re

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Series
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.browser.helpers import axe_check
from tests.browser.test_portal import code_from_outbox, fill_person
from tests.browser.test_portal import site as site  # a fixture
from tests.browser.test_portal_small_screens import PHONE_375, assert_large_enough
from tests.factories import deliver
from tests.waitlist.helpers import declare

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_joining_the_list_and_accepting_an_offer_on_a_phone(
    new_page, live_server, site, javascript_enabled
):
    deliver(site, 20, code="janssen")
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(live_server.url + "/")
    page.get_by_role("link", name=re.compile("la liste d'attente")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Liste d'attente des doses restantes")
    axe_check(page)
    assert_large_enough(page)

    fill_person(page, "Jeanne")
    page.get_by_label(re.compile("Code postal ou commune")).fill("75017")
    page.get_by_label(re.compile("Distance maximale")).fill("500")
    # DSFR's checkboxes: a tap on the label, as a finger does.
    for day in DAYS:
        page.locator("label", has_text=re.compile(rf"^\s*{day}\s*$")).click()
    page.locator("label", has_text="COVID-19 Vaccine Janssen").click()
    page.get_by_role("button", name="Recevoir un code").click()
    expect(page.get_by_text("La distance va de 1 à 30 km.").first).to_be_visible()
    axe_check(page)

    page.get_by_label(re.compile("Distance maximale")).fill("10")
    page.get_by_role("button", name="Recevoir un code").click()
    expect(page.get_by_label("Code reçu")).to_be_visible()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text(re.compile("Jeanne est sur la liste"))).to_be_visible()
    axe_check(page)
    assert_large_enough(page)

    declare(site, doses=1, code="janssen")
    offer = Notification.objects.get(kind="waitlist_offer")
    link = re.search(r"(/liste-attente/offre/\S+)", notification_render(notification=offer).body)
    page.goto(live_server.url + link[1])
    if not javascript_enabled:
        # The key is in the fragment, which only a script reads: the link is pasted.
        axe_check(page)
        page.get_by_label(re.compile("collez-le ici")).fill(live_server.url + link[1])
        page.get_by_role("button", name="Ouvrir").click()
    expect(page.get_by_role("button", name="J'accepte, je viens")).to_be_visible()
    assert "cle" not in page.url
    axe_check(page)
    assert_large_enough(page)
    page.get_by_role("button", name="J'accepte, je viens").click()
    expect(page.get_by_text("C'est à vous : la dose vous attend.")).to_be_visible()
    axe_check(page)
    assert Series.objects.get().vaccine.code == "janssen"
