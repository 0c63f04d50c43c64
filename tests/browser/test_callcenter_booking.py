"""A call-centre booking in a real browser, by keyboard only: a new caller, sites near
them, a slot, the details, booked; the confirmation SMS is in the outbox."""

import re
import time

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Series
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification, notification_to_index
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, screenshot, second_factor_type, staff_app
from tests.factories import two_dose_site


@pytest.fixture
def centre(reference_committed):
    two_dose_site(name="Centre Wagram")
    staff_account_create(
        username="appels", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    return staff_app("appels")


class Keys:
    """The keys an agent presses, counted: each character typed is one key."""

    def __init__(self, page) -> None:
        self.page = page
        self.count = 0

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1


def test_an_agent_books_for_a_caller_by_keyboard_in_well_under_a_minute(page, live_server, centre):
    page.goto(live_server.url + "/callcenter/")
    page.get_by_label("Identifiant").fill("appels")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    second_factor_type(page, centre)
    expect(page.get_by_role("heading", level=1)).to_have_text("Centre d'appels")
    axe_check(page)

    started = time.monotonic()
    keys = Keys(page)
    # Only keys from here: each page opens with the focus where the agent works next.
    expect(page.get_by_label("Téléphone, e-mail, référence")).to_be_focused()
    keys.type("06 12 34 56 78")
    keys.press("Enter")
    expect(page.get_by_text("c'est un nouvel appelant")).to_be_visible()
    expect(page.get_by_label("Code postal ou commune de l'appelant")).to_be_focused()
    keys.type("75017")
    keys.press("Enter")
    expect(page.get_by_role("button", name="Centre Wagram, le").first).to_be_focused()
    axe_check(page)
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pour qui ?")
    expect(page.get_by_label("Prénom")).to_be_focused()
    axe_check(page)
    keys.type("Jeanne")
    keys.press("Tab")
    keys.type("Martin")
    keys.press("Tab")
    keys.type("02031940")
    expect(
        page.get_by_role("textbox", name=re.compile(r"^Portable pour la confirmation"))
    ).to_have_value("06 12 34 56 78")
    keys.press("Enter")
    expect(page.get_by_text("Réservé : référence")).to_be_visible()
    expect(page.get_by_role("status")).to_be_focused()
    elapsed = time.monotonic() - started
    axe_check(page)
    screenshot(page, "callcenter-booked")
    print(
        f"call-centre booking, from the number typed to booked: {keys.count} keys, {elapsed:.1f} s"
    )
    # 39 characters the caller dictates, 4 Enter and 2 Tab: no key to move about.
    assert keys.count == 45
    assert elapsed < 60

    series = Series.objects.get()
    assert series.contact.address == "+33612345678" and series.person.family_name == "Martin"
    assert Notification.objects.filter(
        kind="booking_confirmed", to_index=notification_to_index("+33612345678")
    ).exists()


def test_a_caller_without_mobile_is_confirmed_by_a_printed_letter(page, live_server, centre):
    page.goto(live_server.url + "/callcenter/")
    page.get_by_label("Identifiant").fill("appels")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    second_factor_type(page, centre)
    page.get_by_label("Code postal ou commune de l'appelant").fill("75017")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Centre Wagram, le").first.press("Enter")
    page.get_by_label("Prénom").focus()
    page.keyboard.type("Lucienne")
    page.keyboard.press("Tab")
    page.keyboard.type("Bernard")
    page.keyboard.press("Tab")
    page.keyboard.type("14071931")
    # No mobile, no e-mail: the address the caller dictates, field after field by Tab.
    page.get_by_label("Numéro et voie").focus()
    page.keyboard.type("8 rue Nollet")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("75017")
    page.keyboard.press("Tab")
    page.keyboard.type("Paris")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Réservé : référence")).to_be_visible()
    expect(page.get_by_text("8 RUE NOLLET")).to_be_visible()

    page.get_by_role("link", name="Courriers").click()
    expect(page.get_by_text("1 courrier attend")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Préparer un lot à imprimer").click()
    letter = page.get_by_role("article", name="Courrier 1")
    expect(letter).to_contain_text("Lucienne BERNARD")
    expect(letter).to_contain_text("75017 PARIS")
    expect(letter).to_contain_text("0 800 009 110")
    expect(page.get_by_role("button", name="Imprimer")).to_be_visible()
    axe_check(page)
    assert Notification.objects.get(channel="letter").status == "sent"
