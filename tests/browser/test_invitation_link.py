"""An invitation's link in a real browser: its code, in the fragment, is posted by the
page's script; booking opens near the invitee with their names filled in, and books. Without
JavaScript the same page asks for the code the message shows."""

import re
from datetime import date, time

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Series
from creneau.campaigns.models import Invitation
from creneau.campaigns.services import (
    CampaignData,
    campaign_create,
    campaign_status_change,
    campaign_wave_send,
    population_import,
)
from creneau.outreach.rendering import notification_render
from tests.browser.helpers import axe_check
from tests.browser.test_portal import code_from_outbox
from tests.campaigns.conftest import csv_file, line
from tests.factories import STAFF, two_dose_site


@pytest.fixture
def invitation_body(reference_committed, settings) -> str:
    """Luc Moreau, 81, invited by e-mail to a campaign over Paris; a centre with places."""
    settings.DEMO = True
    two_dose_site(name="Centre de vaccination Wagram")
    population_import(
        stream=csv_file(line("L1", "Moreau", "Luc", "1945-01-01", telephone="", email="l@ex.org"))
    )
    campaign = campaign_create(
        actor=STAFF,
        data=CampaignData(
            name="Plus de 75 ans",
            departments=("75",),
            born_to=date(1950, 12, 31),
            message_fr="Vous pouvez vous faire vacciner.",
            send_days=tuple(range(7)),
            send_from=time(0, 0),
            send_until=time(23, 59),
        ),
        allowed=None,
    )
    campaign_status_change(actor=STAFF, campaign_id=campaign.pk, action="start")
    campaign_wave_send(campaign_id=campaign.pk)
    return notification_render(notification=Invitation.objects.get().notification).body


def test_the_invitation_link_books_with_the_names_filled_in(new_page, live_server, invitation_body):
    path = re.search(r"https?://[^/]+(/invitation/#code=\S+)", invitation_body)[1]
    page = new_page(device="phone")

    page.goto(live_server.url + path)

    expect(page.get_by_text("Invitation reconnue")).to_be_visible()
    assert "code=" not in page.url
    axe_check(page)
    page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(page.get_by_label("Prénom")).to_have_value("Luc")
    expect(page.get_by_role("textbox", name="Nom", exact=True)).to_have_value("Moreau")
    expect(page.get_by_label("Année")).to_have_value("1945")
    page.get_by_role("textbox", name=re.compile(r"^Adresse e-mail")).fill("l@ex.org")
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    assert Invitation.objects.get().series == Series.objects.get()


def test_without_javascript_the_code_is_typed(new_page, live_server, invitation_body):
    code = re.search(r"Votre code personnel : (\S+)\.", invitation_body)[1]
    page = new_page(javascript_enabled=False, device="phone")

    page.goto(live_server.url + "/invitation/")
    axe_check(page)
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    page.get_by_label("Code de votre invitation").fill(mistyped)
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_text("Ce code n'est pas valide").first).to_be_visible()
    page.get_by_label("Code de votre invitation").fill(code)
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_text("Invitation reconnue")).to_be_visible()
