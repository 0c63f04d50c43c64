"""An invitation campaign in a real browser: the national authority's campaign screen
(figures per department, the free places ahead) and a letter of the batch printed for
its letter-only invitees, each checked and kept as the README's screenshots."""

from datetime import time

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from creneau.campaigns.services import campaign_create, campaign_wave_send, population_import
from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.letters import letters_printed
from creneau.outreach.services import letter_batch_create
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, screenshot, second_factor_type, staff_app
from tests.campaigns.conftest import csv_file, line, over_75, started
from tests.factories import STAFF, two_dose_site

pytestmark = pytest.mark.browser


@pytest.fixture
def campaign_sent(reference_committed):
    """Paris's over-75s invited (every day at every hour, whenever the test runs): two by
    SMS, one by e-mail, one by letter; a site with free places; the national authority's
    account."""
    population_import(
        stream=csv_file(
            line("P1", "Durand", "Paul", "1941-01-01", telephone="0611111111"),
            line("P2", "Petit", "Anne", "1930-06-01", telephone="", adresse_1="3 rue Nollet"),
            line("P3", "Moreau", "Luc", "1945-01-01", telephone="", email="luc@example.org"),
            line("P4", "Roux", "Marie", "1935-05-05", telephone="0622222222"),
        )
    )
    two_dose_site(name="Centre Wagram", lines=4)
    campaign = campaign_create(
        actor=STAFF,
        data=over_75(
            name="Plus de 75 ans à Paris",
            send_days=tuple(range(7)),
            send_from=time(0, 0),
            send_until=time(23, 59),
        ),
        allowed=None,
    )
    started(campaign)
    assert campaign_wave_send(campaign_id=campaign.pk) == 4
    staff_account_create(
        username="national",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.NATIONAL_AUTHORITY,
    )
    return campaign


def test_the_campaign_screen_shows_each_department_and_the_places_ahead(
    page, live_server, campaign_sent
):
    app = staff_app("national")
    page.goto(live_server.url + "/backoffice/connexion/")
    page.get_by_label("Identifiant").fill("national")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    second_factor_type(page, app)
    page.goto(f"{live_server.url}/backoffice/campagnes/{campaign_sent.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Plus de 75 ans à Paris")
    figures = page.get_by_role("table", name="Par département")
    expect(figures.get_by_role("rowheader")).to_have_text("75")
    # Invited: all four (the row's first figure).
    expect(figures.get_by_role("cell").first).to_have_text("4")
    axe_check(page)
    screenshot(page, "campaign")


def test_a_letter_of_the_printed_batch(page, campaign_sent):
    """The batch's letters as the printer gets them (the template WeasyPrint makes the
    PDF from), one A4 sheet at 96 dpi."""
    batch = letter_batch_create(actor=Actor(user=None))
    letters = letters_printed(notifications=list(batch.notifications.order_by("pk")))
    assert len(letters) == 1 and letters[0].qr_code
    html = render_to_string("outreach/letters_print.html", {"batch": batch, "letters": letters})
    page.set_viewport_size({"width": 794, "height": 1123})
    page.set_content(html)
    expect(page.locator(".letter__address")).to_contain_text("Anne PETIT")
    expect(page.locator(".letter__address")).to_contain_text("3 RUE NOLLET")
    expect(page.locator(".letter__qr img")).to_be_visible()
    screenshot(page, "campaign-letter")
