"""Site management in a real browser: a manager records a delivery, opens a weekly
pattern of sessions, and is refused with the figures when asking for too much."""

import re

import pytest
from playwright.sync_api import expect

from creneau.demo.staff import DEMO_PASSWORD
from creneau.scheduling.models import Session
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, second_factor_type, staff_app
from tests.factories import make_site, tomorrow


@pytest.fixture
def site(reference_committed):
    site = make_site(name="Centre Wagram")
    staff_account_create(
        username="responsable",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_MANAGER,
        sites=[site],
    )
    return site


def test_a_manager_stocks_the_site_and_opens_sessions(page, live_server, site):
    app = staff_app("responsable")
    page.goto(f"{live_server.url}/backoffice/lieux/{site.pk}/stock/")
    page.get_by_label("Identifiant").fill("responsable")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    second_factor_type(page, app)
    expect(page.get_by_text("Aucune dose livrée.")).to_be_visible()
    axe_check(page)
    page.get_by_role("combobox", name="Vaccin", exact=True).select_option(label="Comirnaty")
    page.get_by_role("spinbutton", name="Doses").fill("60")
    page.get_by_label("Lot").fill("FK1234")
    page.locator("label", has_text="Déjà reçue").click()
    page.get_by_role("button", name="Enregistrer la livraison").click()
    expect(page.get_by_text("Livraison enregistrée.")).to_be_visible()
    expect(page.locator("tbody strong").first).to_have_text("60")

    page.get_by_role("link", name="Sessions").click()
    axe_check(page)
    start = tomorrow()
    page.get_by_role("combobox", name="Vaccin", exact=True).select_option(label="Comirnaty")
    page.get_by_label("Le (ou à partir du)").fill(start.isoformat())
    page.get_by_label("Début").fill("09:00")
    page.get_by_label("Fin").fill("10:00")
    page.get_by_label("Lignes de vaccination").fill("10")
    page.get_by_role("button", name="Ouvrir").click()
    expect(page.get_by_text("il faut 120 doses, il en reste 60 non engagées")).to_be_visible()
    axe_check(page)
    assert not Session.objects.exists()

    page.get_by_label("Lignes de vaccination").fill("1")
    page.get_by_label("Fin").fill("09:30")
    page.get_by_label("Jusqu'au (pour une série de sessions)").fill(start.isoformat())
    for weekday in ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"):
        page.locator("label", has_text=re.compile(f"^\\s*{weekday}")).click()
    page.get_by_role("button", name="Ouvrir").click()
    expect(page.get_by_text("1 session(s) ouverte(s).")).to_be_visible()
    assert Session.objects.get().date == start
