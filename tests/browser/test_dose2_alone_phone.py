"""A person whose first dose was given elsewhere books their second one alone, on a
375-px phone, with and without JavaScript: the choice from the home page, the vaccine
and day of dose 1, the second-dose slots in the interval, the details, the code, the
booking with its dose 1 declared; a day in the future is said on its field. Each page
checked by axe and for its tap targets."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from creneau.booking.models import Series
from tests.browser.helpers import axe_check
from tests.browser.test_portal import code_from_outbox, fill_person
from tests.browser.test_portal import site as site  # a fixture
from tests.browser.test_portal_small_screens import PHONE_375, assert_large_enough
from tests.factories import open_session, tomorrow

GIVEN_ON = timezone.localdate() - timedelta(days=20)


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_booking_dose_2_alone_on_a_phone(new_page, live_server, site, javascript_enabled):
    open_session(site, day=tomorrow(2), dose_number=2)
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(live_server.url + "/")
    page.get_by_role("link", name=re.compile("J'ai déjà reçu ma 1re dose ailleurs")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("J'ai déjà reçu ma 1re dose ailleurs")
    axe_check(page)
    assert_large_enough(page)

    page.get_by_label("Vaccin reçu en 1re dose").select_option("comirnaty")
    page.get_by_label("Code postal ou commune").fill("75017")
    # A day to come is not a dose received: said on its field.
    page.get_by_label("Date de la 1re dose").fill(f"{timezone.localdate() + timedelta(days=2)}")
    page.get_by_role("button", name="Chercher un créneau de 2e dose").click()
    expect(page.get_by_text("La date de la première dose est dans le futur.").first).to_be_visible()
    axe_check(page)

    page.get_by_label("Date de la 1re dose").fill(f"{GIVEN_ON}")
    page.get_by_role("button", name="Chercher un créneau de 2e dose").click()
    expect(page.get_by_text(re.compile("2e dose de Comirnaty après une 1re dose"))).to_be_visible()
    axe_check(page)
    assert_large_enough(page)

    page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(page.get_by_text(re.compile("Seconde dose seule de Comirnaty"))).to_be_visible()
    axe_check(page)
    assert_large_enough(page)
    fill_person(page, "Jeanne")
    page.get_by_role("button", name="Recevoir le code de confirmation").click()
    expect(page.get_by_label("Code reçu")).to_be_visible()
    expect(page.get_by_text(re.compile("reçue ailleurs le"))).to_be_visible()
    axe_check(page)
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")
    expect(page.get_by_text(re.compile("1re dose reçue ailleurs : Comirnaty"))).to_be_visible()
    expect(page.locator(".appointment")).to_have_count(1)
    axe_check(page)
    assert_large_enough(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing overflows
    series = Series.objects.get()
    assert series.dose1_elsewhere_on == GIVEN_ON
    assert [a.dose_number for a in series.appointments.all()] == [2]
