"""The portal on a phone, for people of 75 and more: tap targets of at least 44 px and
text at the body size at 375 px, list numbers shown in full at 320 px, a named mobile
menu, the header's links (the language switch) without JavaScript, the reserved site's
question checked by axe, and the browser's Back after booking."""

import re

import pytest
from playwright.sync_api import Page, expect

from creneau.booking.models import Series
from tests.browser.helpers import axe_check
from tests.browser.test_portal import book, choose_first_slot
from tests.browser.test_portal import site as site  # a fixture
from tests.factories import tomorrow, two_dose_site

PHONE_375 = {"device": "phone", "viewport": {"width": 375, "height": 667}}
TAP_MIN_PX = 44
BODY_TEXT_PX = 16

# Everything one taps on the page (buttons, links styled as buttons, tags) that shows,
# with its box; and every hint or small print with its font size.
_TARGETS = """() => [...document.querySelectorAll(
    'main button, main .fr-btn, main .fr-tag, main input[type=submit]')]
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
  .map(e => { const box = e.getBoundingClientRect();
    return {what: (e.innerText || e.getAttribute('aria-label') || e.name).trim().slice(0, 40),
            width: box.width, height: box.height}; })"""
_SMALL_PRINT = """() => [...document.querySelectorAll(
    'main .fr-hint-text, main .fr-text--sm, main .fr-error-text, main .fr-badge')]
  .filter(e => e.getClientRects().length && e.innerText.trim())
  .map(e => ({what: e.innerText.trim().slice(0, 40),
              size: parseFloat(getComputedStyle(e).fontSize),
              badge: e.classList.contains('fr-badge')}))"""


def assert_large_enough(page: Page) -> None:
    page.wait_for_load_state()  # the stylesheets applied: a click only waits for the answer
    small = [
        target
        for target in page.evaluate(_TARGETS)
        if min(target["width"], target["height"]) < TAP_MIN_PX
    ]
    assert not small, f"tap targets under {TAP_MIN_PX} px on {page.url}: {small}"
    # Help and notes at the body size; a badge (a label in capitals) at DSFR's default.
    tiny = [
        text
        for text in page.evaluate(_SMALL_PRINT)
        if text["size"] < (14 if text["badge"] else BODY_TEXT_PX)
    ]
    assert not tiny, f"text too small on {page.url}: {tiny}"


def test_tap_targets_and_help_text_are_large_at_375_px(new_page, live_server, site):
    page = new_page(**PHONE_375)
    page.goto(live_server.url + "/?near=75017")
    assert_large_enough(page)
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    assert_large_enough(page)
    choose_first_slot(page)
    assert_large_enough(page)
    book(page, live_server.url)
    # The booking's page: "Déplacer la dose" was 32 px high, in 14-px text.
    expect(page.get_by_role("link", name="Déplacer la dose 1")).to_be_visible()
    assert_large_enough(page)
    page.get_by_role("link", name="Mes données", exact=True).click()
    assert_large_enough(page)
    page.go_back()
    page.get_by_role("link", name="Annuler le rendez-vous").click()
    assert_large_enough(page)
    page.goto(live_server.url + "/gerer/")
    assert_large_enough(page)


# Where each number of an ordered list begins: DSFR draws it outside the item, in bold,
# as "1.  "; its width is measured with the marker's own font.
_MARKERS = """() => {
  const canvas = document.createElement('canvas').getContext('2d');
  const found = [];
  for (const list of document.querySelectorAll('main ol')) {
    [...list.children].forEach((item, index) => {
      const marker = getComputedStyle(item, '::marker');
      if (!item.getClientRects().length || marker.content === 'none') return;
      canvas.font = `${marker.fontWeight} ${marker.fontSize} ${marker.fontFamily}`;
      const width = canvas.measureText(`${index + 1}.\\u00a0\\u00a0`).width;
      found.push({list: list.className, number: index + 1,
                  left: item.getBoundingClientRect().left - width,
                  listLeft: list.getBoundingClientRect().left});
    });
  }
  return found;
}"""


def test_list_numbers_show_in_full_at_320_px(new_page, live_server, site):
    two_dose_site(name="Centre Batignolles", address="5 rue des Batignolles")
    page = new_page(device="phone")
    page.goto(live_server.url + "/?near=75017")
    markers = page.evaluate(_MARKERS)
    assert {marker["list"] for marker in markers} >= {"results"}
    cut = [
        marker
        for marker in markers
        if marker["left"] < 0 or marker["left"] < marker["listLeft"] - 0.5
    ]
    assert not cut, f"numbers cut at 320 px: {cut}"


def test_the_mobile_menu_is_a_dialog_with_a_name(new_page, live_server, site):
    """DSFR's script makes the menu a dialog when it opens, named by its button; in the
    page itself the menu is a plain block (named there, axe refuses the attribute)."""
    page = new_page(**PHONE_375)
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Menu").click()
    menu = page.get_by_role("dialog", name="Menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("link", name="Gérer un rendez-vous")).to_be_visible()
    axe_check(page)
    menu.get_by_role("button", name="Fermer").click()
    expect(menu).to_be_hidden()


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_back_after_booking_shows_the_booking_again(
    new_page, live_server, site, javascript_enabled
):
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    reference = book(page, live_server.url)
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    expect(page.locator(".reference")).to_have_text(reference)
    expect(page.get_by_text("Ce rendez-vous est déjà confirmé")).to_be_visible()
    axe_check(page)
    # Further back: the booking still, then the site's page where the slot was chosen.
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    page.go_back()
    expect(page.get_by_role("button", name=re.compile(r"^Choisir le ")).first).to_be_visible()
    assert Series.objects.count() == 1


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_the_reserved_sites_question_passes_axe(
    new_page, live_server, reference_committed, settings, javascript_enabled
):
    settings.DEMO = True
    reserved, _session = two_dose_site(
        name="Centre des soignants", restricted_to=["caregiver"], dose1_day=tomorrow()
    )
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(f"{live_server.url}/centres/{reserved.pk}/")
    page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(page.get_by_text("Êtes-vous l'une de ces personnes")).to_be_visible()
    axe_check(page)
    assert_large_enough(page)
    # Nothing ticked: the refusal is on the question, and still passes axe.
    page.get_by_role("button", name="Oui, continuer").click()
    expect(page.get_by_text("Cochez ce qui concerne la personne")).to_have_count(2)
    axe_check(page)
    page.locator("label", has_text="Professionnel·le de santé ou du médico-social").click()
    page.get_by_role("button", name="Oui, continuer").click()
    expect(page.get_by_label("Prénom")).to_be_visible()


@pytest.mark.parametrize("width", [320, 375])
def test_the_header_links_show_without_javascript_on_a_phone(new_page, live_server, site, width):
    """DSFR hides the header's links on a phone and lets its script move them into the
    Menu's dialog: without the script, the Menu button did nothing and the language
    switch could not be reached. Without JavaScript the links stay in the header."""
    page = new_page(
        javascript_enabled=False, device="phone", viewport={"width": width, "height": 568}
    )
    page.goto(live_server.url + "/")
    header = page.get_by_role("banner")
    # The Menu button would do nothing: it is not offered.
    expect(header.get_by_role("button", name="Menu")).to_be_hidden()
    for name in ("Gérer un rendez-vous", "Qui peut se faire vacciner ?"):
        expect(header.get_by_role("link", name=name)).to_be_visible()
    english = header.get_by_role("button", name="English")
    expect(english).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing overflows
    axe_check(page)
    english.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("banner").get_by_role("button", name="Français")).to_be_visible()
    axe_check(page)


def test_the_header_links_stay_in_the_menu_with_javascript_on_a_phone(new_page, live_server, site):
    """With JavaScript, a phone keeps DSFR's header: the links behind the Menu button."""
    page = new_page(device="phone")
    page.goto(live_server.url + "/")
    header = page.get_by_role("banner")
    expect(header.get_by_role("button", name="Menu")).to_be_visible()
    expect(header.locator(".fr-header__tools-links")).to_be_hidden()
    header.get_by_role("button", name="Menu").click()
    expect(
        page.get_by_role("dialog", name="Menu").get_by_role("button", name="English")
    ).to_be_visible()


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_use_my_position_is_offered_only_with_javascript(
    new_page, live_server, site, javascript_enabled
):
    """The button is ``hidden`` until the script shows it; DSFR's ``.fr-btn`` display
    outranked the attribute, so it showed, and did nothing, without JavaScript."""
    page = new_page(javascript_enabled=javascript_enabled, device="phone")
    page.goto(live_server.url + "/")
    button = page.get_by_role("button", name="Utiliser ma position")
    if javascript_enabled:
        expect(button).to_be_visible()
    else:
        expect(button).to_be_hidden()
