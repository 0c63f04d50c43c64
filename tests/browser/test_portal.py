"""The portal's journeys in a real browser (Debian's Chromium), with and without JavaScript,
in French and in English, each page checked by axe-core."""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from creneau.booking.models import Appointment, Contact, Hold, Series
from creneau.booking.services import hold_create
from tests.browser.helpers import axe_check, screenshot
from tests.factories import two_dose_site

PHONE = "06 12 34 56 78"
STORED_PHONE = "+33612345678"


@pytest.fixture
def site(reference_committed, settings):
    settings.DEMO = True
    site, _session = two_dose_site(
        name="Centre de vaccination Wagram",
        address="12 avenue de Wagram",
        accessibility="Plain-pied, place de stationnement réservée",
    )
    return site


def a_minute_later() -> None:
    """A contact may be sent a new code once a minute: let the clock move on."""
    Contact.objects.update(code_sent_at=timezone.now() - timedelta(minutes=2))


def search(page: Page, url: str, near: str = "75017") -> None:
    page.goto(url + "/")
    axe_check(page)
    page.get_by_label("Code postal ou commune").fill(near)
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("75017 Paris 17e")


def choose_first_slot(page: Page) -> None:
    page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(page.get_by_role("heading", name="Créneau retenu pour vous")).to_be_visible()


def fill_person(page: Page, given_name: str, *, contact: str | None = PHONE) -> None:
    page.get_by_label("Prénom").fill(given_name)
    page.get_by_role("textbox", name="Nom", exact=True).fill("Martin")
    page.get_by_role("textbox", name="Jour", exact=True).fill("2")
    page.get_by_label("Mois").fill("3")
    page.get_by_label("Année").fill("1940")
    if contact is not None:
        page.get_by_role("textbox", name=re.compile(r"^Numéro de portable")).fill(contact)


def code_from_outbox(page: Page) -> str:
    """Open the demo's outbox from the code page, read the code, come back."""
    page.get_by_role("link", name="Voir le message qui aurait été envoyé").click()
    message = page.locator(".outbox__body").first
    expect(message).to_be_visible()
    axe_check(page)
    text = message.inner_text()
    page.go_back()
    return re.search(r"\b(\d{6})\b", text).group(1)


def book(page: Page, url: str, *, given_name: str = "Jeanne") -> str:
    """From the search to the confirmation page; answers the reference shown."""
    search(page, url)
    page.get_by_role("link", name="Centre de vaccination Wagram", exact=True).click()
    axe_check(page)
    choose_first_slot(page)
    axe_check(page)
    fill_person(page, given_name)
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    expect(page.get_by_label("Code reçu")).to_be_visible()
    axe_check(page)
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    return page.locator(".reference").inner_text()


def move_dose_1(page: Page) -> None:
    """From a booking's page: choose another slot, see what changes, confirm."""
    page.get_by_role("link", name="Déplacer la dose 1").click()
    axe_check(page)
    page.get_by_role("button", name=re.compile(r"^Choisir le ")).nth(2).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer le déplacement")
    expect(page.get_by_text("La seconde dose reste à sa date")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Confirmer le déplacement").click()
    expect(page.get_by_text("Rendez-vous déplacé.")).to_be_visible()


def test_the_whole_journey_search_book_manage_move_cancel(new_page, live_server, site):
    page = new_page()
    search(page, live_server.url)
    screenshot(page, "search-results")
    page.get_by_role("link", name="Centre de vaccination Wagram", exact=True).click()
    expect(page.get_by_role("link", name="Ouvrir dans une application de cartes")).to_be_visible()
    axe_check(page)
    choose_first_slot(page)
    expect(page.locator(".hold-countdown")).to_contain_text("Il reste")
    expect(page.get_by_label(re.compile("retenu pour vous"))).to_be_checked()
    axe_check(page)
    fill_person(page, "Jeanne")
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    expect(page.locator(".appointment")).to_have_count(2)
    axe_check(page)
    screenshot(page, "confirmation")
    reference = page.locator(".reference").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Ajouter à mon agenda (.ics)").click()
    assert download.value.suggested_filename == f"vaccination-{reference}.ics"
    assert Path(download.value.path()).read_text().count("BEGIN:VEVENT") == 2

    # Later, on another device: the reference and a code sent to the same phone.
    a_minute_later()
    other = new_page(device="phone")
    other.goto(live_server.url + "/")
    other.get_by_role("contentinfo").get_by_role("link", name="Gérer un rendez-vous").click()
    axe_check(other)
    other.get_by_label("Référence du rendez-vous").fill(reference)
    other.get_by_role("textbox", name=re.compile(r"^Numéro de portable")).fill(PHONE)
    other.get_by_role("button", name="Recevoir un code").click()
    other.get_by_label("Code reçu").fill(code_from_outbox(other))
    other.get_by_role("button", name="Valider").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")

    series = Series.objects.get()
    before = Appointment.objects.get(series=series, dose_number=1).slot_id
    move_dose_1(other)
    assert Appointment.objects.get(series=series, dose_number=1).slot_id != before

    other.get_by_role("link", name="Annuler le rendez-vous").click()
    axe_check(other)
    other.get_by_role("button", name="Oui, annuler").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Rendez-vous annulé")
    # Then a search near the same place, to book again.
    other.get_by_role("link", name="Prendre un autre rendez-vous").click()
    expect(other.locator("#resultat")).to_contain_text("75017 Paris 17e")
    series.refresh_from_db()
    assert series.status == "cancelled"


def test_booking_for_a_relative_is_one_more_click(new_page, live_server, site):
    page = new_page()
    book(page, live_server.url, given_name="Jeanne")
    page.get_by_role("link", name="Prendre rendez-vous pour un proche").click()
    choose_first_slot(page)
    fill_person(page, "Paul", contact=None)
    expect(page.get_by_text("déjà vérifié")).to_be_visible()
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    expect(page.get_by_text("Pour Paul Martin")).to_be_visible()
    active = Series.objects.filter(status="active").select_related("person")
    assert sorted(series.person.given_name for series in active) == ["Jeanne", "Paul"]
    assert Series.objects.values("contact").distinct().count() == 1


def test_the_journey_without_javascript(new_page, live_server, site):
    page = new_page(javascript_enabled=False, device="phone")
    reference = book(page, live_server.url)
    # No script ran: no countdown, no position button, the page still said it all.
    assert Series.objects.get().person.given_name == "Jeanne"
    before = Appointment.objects.get(dose_number=1).slot_id
    move_dose_1(page)
    assert Appointment.objects.get(dose_number=1).slot_id != before
    page.get_by_role("link", name="Version imprimable").click()
    expect(page.locator(".reference")).to_have_text(reference)
    axe_check(page)


def test_the_english_version(new_page, live_server, site):
    page = new_page(locale="en-GB")
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a vaccination appointment")
    axe_check(page)
    page.get_by_label("Postcode or town").fill("75017")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Centre de vaccination Wagram", exact=True).click()
    page.get_by_role("button", name=re.compile(r"^Choose ")).first.click()
    expect(page.get_by_role("heading", name="Slot held for you")).to_be_visible()
    axe_check(page)
    page.get_by_label("First name").fill("Jane")
    page.get_by_role("textbox", name="Last name", exact=True).fill("Martin")
    page.get_by_label("Day", exact=True).fill("2")
    page.get_by_label("Month").fill("3")
    page.get_by_label("Year").fill("1940")
    page.get_by_role("textbox", name=re.compile(r"^E-mail address")).fill("jane@example.org")
    page.get_by_role("button", name="Get the confirmation code").click()
    page.get_by_role("link", name="See the message that would have been sent").click()
    text = page.locator(".outbox__body").first.inner_text()
    assert "code" in text.lower()
    page.go_back()
    page.get_by_label("Code received").fill(re.search(r"\b(\d{6})\b", text).group(1))
    page.get_by_role("button", name="Confirm the appointment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Appointment confirmed")
    axe_check(page)


def test_a_slot_taken_meanwhile_gives_a_clear_message_and_the_next_slots(
    new_page, live_server, site
):
    page = new_page()
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    first = page.get_by_role("button", name=re.compile(r"^Choisir le ")).first
    taken_id = int(first.get_attribute("value"))
    # Someone else takes both places of the first slot while this page is open.
    hold_create(slot_id=taken_id)
    hold_create(slot_id=taken_id)
    first.click()
    expect(page.get_by_text("Ce créneau est retenu par d'autres personnes")).to_be_visible()
    buttons = page.get_by_role("button", name=re.compile(r"^Choisir le "))
    expect(buttons.first).to_be_visible()
    assert taken_id not in [
        int(value) for value in buttons.evaluate_all("buttons => buttons.map(b => b.value)")
    ]
    axe_check(page)
    buttons.first.click()
    expect(page.get_by_role("heading", name="Créneau retenu pour vous")).to_be_visible()


def test_a_mistake_in_the_form_is_summarised_and_linked_to_its_field(new_page, live_server, site):
    page = new_page()
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    choose_first_slot(page)
    fill_person(page, "Jeanne")
    page.get_by_role("textbox", name="Jour", exact=True).fill("31")
    page.get_by_label("Mois").fill("2")
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Cette date de naissance n'existe pas.")
    expect(summary).to_be_focused()
    axe_check(page)
    summary.get_by_role("link").first.click()
    expect(page.get_by_role("textbox", name="Jour", exact=True)).to_be_focused()


def test_suggestions_and_position_with_javascript(new_page, live_server, site):
    page = new_page(
        geolocation={"latitude": 48.8835, "longitude": 2.3030}, permissions=["geolocation"]
    )
    page.goto(live_server.url + "/")
    page.get_by_label("Code postal ou commune").press_sequentially("7501", delay=30)
    expect(page.locator("#place-suggestions option").first).to_have_attribute(
        "value", re.compile(r"^7501\d ")
    )
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(
        page.get_by_role("link", name="Centre de vaccination Wagram", exact=True)
    ).to_be_visible()


def test_the_keyboard_alone_reaches_the_search_and_a_slot(new_page, live_server, site):
    page = new_page()
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Contenu")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Code postal ou commune")).to_be_focused()
    page.keyboard.type("75017")
    page.keyboard.press("Enter")
    # The results page moves the focus to its answer once loaded (portal.js): the keyboard
    # starts from there, so the slot is reached after that, not before.
    expect(page.locator("#resultat")).to_be_focused()
    first_slot = page.get_by_role("button", name=re.compile(r"^Choisir le ")).first
    first_slot.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Créneau retenu pour vous")).to_be_visible()


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_on_a_phone_a_search_opens_at_its_results(new_page, live_server, site, javascript_enabled):
    page = new_page(device="phone", javascript_enabled=javascript_enabled)
    page.goto(live_server.url + "/")
    page.get_by_label("Code postal ou commune").fill("75017")
    page.get_by_role("button", name="Rechercher").click()
    results = page.locator("#resultat")
    expect(results).to_contain_text("75017 Paris 17e")
    expect(results).to_be_in_viewport()
    if javascript_enabled:
        expect(results).to_be_focused()
    # A mistyped town opens at what went wrong, not past it.
    page.get_by_label("Code postal ou commune").fill("Zzzzzz")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#resultat")).to_contain_text("Commune introuvable")
    expect(page.locator("#resultat")).to_be_in_viewport()


def hold_runs_out(settings) -> None:
    """Wait, as someone typing slowly would, until the holds made so far end; holds made
    from now on last the usual time."""
    left = max(hold.expires_at for hold in Hold.objects.all()) - timezone.now()
    time.sleep(max(left.total_seconds(), 0) + 0.1)
    settings.HOLD_MINUTES = 10


def test_a_slow_typist_keeps_the_slot_and_is_told_once_that_time_ran_out(
    new_page, live_server, site, settings
):
    settings.HOLD_MINUTES = 3 / 60
    page = new_page()
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    chosen = int(
        page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.get_attribute("value")
    )
    choose_first_slot(page)
    expect(page.locator(".hold-countdown")).to_contain_text("Il reste")
    fill_person(page, "Jeanne")
    expect(page.get_by_text("Le délai est écoulé.")).to_be_visible(timeout=6000)
    expect(page.get_by_text(re.compile("délai est écoulé"))).to_have_count(1)
    expect(page.get_by_text(re.compile("tout de même valider"))).to_have_count(1)
    axe_check(page)
    hold_runs_out(settings)
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    expect(page.get_by_text("il vous est de nouveau réservé")).to_be_visible()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    assert Appointment.objects.get(dose_number=1).slot_id == chosen


def test_a_slot_lost_while_typing_offers_the_nearest_without_retyping(
    new_page, live_server, site, settings
):
    settings.HOLD_MINUTES = 2 / 60
    page = new_page(javascript_enabled=False, device="phone")
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    lost = int(
        page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.get_attribute("value")
    )
    choose_first_slot(page)
    fill_person(page, "Jeanne")
    hold_runs_out(settings)
    # Meanwhile two other people take the slot's places.
    hold_create(slot_id=lost)
    hold_create(slot_id=lost)
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    expect(page.get_by_text("vous n'aurez pas à le retaper")).to_be_visible()
    axe_check(page)
    buttons = page.get_by_role("button", name=re.compile(r"^Choisir le "))
    nearest = int(buttons.first.get_attribute("value"))
    assert nearest != lost
    buttons.first.click()
    expect(page.get_by_label("Prénom")).to_have_value("Jeanne")
    expect(page.get_by_label("Année")).to_have_value("1940")
    expect(page.get_by_role("textbox", name=re.compile(r"^Numéro de portable"))).to_have_value(
        PHONE
    )
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    assert Appointment.objects.get(dose_number=1).slot_id == nearest
