"""The waiting room in a browser: queued, told one's position, then let through by
itself, with and without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from creneau.admission.waiting_room import admission_decide
from tests.browser.helpers import axe_check, screenshot
from tests.factories import two_dose_site


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_visitor_waits_their_turn_then_goes_on_by_itself(
    new_page, live_server, reference_committed, settings, javascript
):
    site, _ = two_dose_site(name="Centre de vaccination Wagram")
    # One person a second, and eight arrived just before: a few seconds' wait, long
    # enough for a loaded machine (other tests' browsers beside this one) to show the page.
    settings.WAITING_ROOM_RATE = 60
    settings.WAITING_ROOM_BURST_SECONDS = 0
    for _ in range(8):
        admission_decide(signed_ticket=None)
    page = new_page(javascript_enabled=javascript, device="phone")
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Salle d'attente")
    status = page.locator("#file-attente [role=status]")
    # How many are still ahead depends on how long the page took: one or several.
    expect(status).to_contain_text(
        re.compile(r"(Une personne passe|\d+ personnes passent) avant vous")
    )
    expect(status).to_contain_text("Attente estimée")
    expect(page.get_by_role("link", name="Voir si c'est mon tour")).to_be_visible()
    if javascript:
        # Without JavaScript the page refreshes itself (a <noscript> meta refresh), which
        # axe rightly flags; with it, only the status is updated, and announced.
        axe_check(page)
        screenshot(page, "waiting-room-phone")
    # Nobody clicks anything: the page moves on when the turn comes.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Centre de vaccination Wagram", timeout=20_000
    )
    # The pass keeps the way open.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Centre de vaccination Wagram")
