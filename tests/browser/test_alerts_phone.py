"""Subscribing to alerts on a 375-px phone, with and without JavaScript: the link from the
home page, a radius of 500 km said on its field, the code, the alert made; then places
open, the alert's message comes, and its link stops it (with JavaScript the key is posted
from the fragment; without, the page sends the person to their alerts, where a button
stops it). Each page checked by axe and for its tap targets."""

import re

import pytest
from playwright.sync_api import expect

from creneau.alerts.models import Subscription
from creneau.alerts.services import alerts_run
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.browser.helpers import axe_check
from tests.browser.test_portal import PHONE, code_from_outbox, fill_person
from tests.browser.test_portal import site as site  # a fixture
from tests.browser.test_portal_small_screens import PHONE_375, assert_large_enough
from tests.factories import deliver, open_session


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_subscribing_to_alerts_and_stopping_them_on_a_phone(
    new_page, live_server, site, javascript_enabled
):
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(live_server.url + "/")
    page.get_by_role("link", name=re.compile("les alertes")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Être prévenu(e) quand des places se libèrent"
    )
    axe_check(page)
    assert_large_enough(page)

    fill_person(page, "Jeanne", contact=None)
    page.locator("#id_phone").fill(PHONE)
    page.get_by_label(re.compile("Près de")).fill("75017")
    page.get_by_label(re.compile("Distance maximale")).fill("500")
    page.locator("#id_vaccine").select_option("janssen")
    page.get_by_role("button", name="Recevoir un code").first.click()
    expect(page.get_by_text("La distance va de 1 à 50 km.").first).to_be_visible()
    axe_check(page)
    assert not Notification.objects.exists()

    page.get_by_label(re.compile("Distance maximale")).fill("10")
    page.get_by_role("button", name="Recevoir un code").first.click()
    expect(page.get_by_label("Code reçu")).to_be_visible()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text(re.compile("votre alerte est créée"))).to_be_visible()
    expect(page.get_by_role("button", name="Arrêter l'alerte de Jeanne")).to_be_visible()
    axe_check(page)
    assert_large_enough(page)

    deliver(site, 20, code="janssen")
    open_session(site, code="janssen")
    assert alerts_run().sent == 1
    alert = Notification.objects.get(kind="alert_places")
    link = re.search(r"(/alertes/arreter/#cle=\S+)", notification_render(notification=alert).body)
    page.goto(live_server.url + link[1])
    if javascript_enabled:
        expect(page.get_by_text("vous ne recevrez plus ces alertes")).to_be_visible()
        # The key left the address bar.
        assert "cle" not in page.url
    else:
        expect(
            page.get_by_text(re.compile("votre navigateur n'exécute pas JavaScript"))
        ).to_be_visible()
        axe_check(page)
        page.get_by_role("link", name="Gérer mes alertes").click()
        page.get_by_role("button", name="Arrêter l'alerte de Jeanne").click()
        expect(page.get_by_text("Alerte arrêtée.")).to_be_visible()
    axe_check(page)
    assert Subscription.objects.get().status == Subscription.Status.STOPPED
