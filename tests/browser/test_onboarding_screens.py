"""Issue 18's new screens in a real browser, each checked with axe: a pharmacy applies
on the portal, the regional authority approves it, the manager's invitation sets a
password, and the authority shares a week's deliveries in the allocation table (htmx
refreshing the totals against the quota; the README's screenshot), then again without
JavaScript."""

from datetime import time

import pytest
from playwright.sync_api import expect

from creneau.demo.staff import DEMO_PASSWORD
from creneau.onboarding.messages import invitation_token
from creneau.onboarding.models import StaffInvitation
from creneau.vaccines.models import Delivery
from tests.browser.helpers import axe_check, screenshot, second_factor_type, staff_app
from tests.factories import make_site, open_session, tomorrow
from tests.onboarding.helpers import authority, receive


@pytest.fixture
def region(reference_committed):
    """Five sites of Île-de-France: doses on hand, doses confirmed for a later day, and
    first-dose sessions (1 h, 6 slots a line) on days 1, 2 and 8."""
    authority("ars.idf", "75", "93")
    sites = []
    for name, insee, on_hand, later, lines in (
        ("Centre Wagram", "75117", 600, 0, 6),
        ("Pharmacie des Batignolles", "75117", 40, 0, 1),
        ("Cabinet du Dr Roux", "75117", 0, 0, 0),
        # Doses confirmed for day 10: the sessions before it are short.
        ("Centre de Bobigny", "93008", 30, 300, 4),
        ("Hôpital Avicenne", "93008", 0, 240, 3),
    ):
        site = make_site(name=name, insee_code=insee)
        if on_hand:
            receive(site, on_hand)
        if later:
            receive(site, later, on=tomorrow(10))
        for offset in (1, 2, 8) if lines else ():
            open_session(site, day=tomorrow(offset), lines=lines, start=time(9), end=time(10))
        sites.append(site)
    return sites


def sign_in(page, live_server, path: str) -> None:
    app = staff_app("ars.idf")
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Identifiant").fill("ars.idf")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    second_factor_type(page, app)


def test_a_pharmacy_applies_is_approved_and_its_manager_sets_a_password(page, live_server, region):
    page.goto(f"{live_server.url}/adherer/")
    page.get_by_label("Vous êtes").select_option(label="Pharmacie")
    page.get_by_label("Nom du lieu").fill("Pharmacie du Marché")
    page.get_by_label("Numéro et voie").fill("3 place du Marché")
    page.get_by_label("Code postal").fill("75017")
    page.get_by_label("Commune").fill("Paris")
    page.get_by_label("Type de numéro").select_option(label="FINESS (établissement)")
    page.locator("#id_number").fill("590780194")
    page.get_by_label("Votre nom").fill("Paul Martin")
    page.get_by_label("Votre adresse e-mail").fill("pharmacie@exemple.fr")
    axe_check(page)
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("alert")).to_contain_text("clé de contrôle")
    axe_check(page)
    page.locator("#id_number").fill("590780193")
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("heading", name="Demande envoyée")).to_be_visible()

    sign_in(page, live_server, "/backoffice/adhesions/")
    axe_check(page)
    page.get_by_role("link", name="Pharmacie du Marché").click()
    expect(page.get_by_text("pharmacie@exemple.fr")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Accepter la demande").click()
    expect(page.get_by_text("est créé en brouillon")).to_be_visible()
    page.get_by_role("button", name="Se déconnecter").click()

    token = invitation_token(invitation_id=StaffInvitation.objects.get().pk)
    page.goto(f"{live_server.url}/backoffice/invitation/{token}/")
    expect(page.get_by_role("heading", name="Choisir votre mot de passe")).to_be_visible()
    assert token not in page.url
    axe_check(page)
    page.locator("#id_password").fill("Glycine-Tramway-Boussole-31")
    page.locator("#id_password_again").fill("Glycine-Tramway-Boussole-31")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_text("Mot de passe enregistré")).to_be_visible()


def test_the_authority_shares_the_weeks_deliveries_in_one_table(page, live_server, region):
    sign_in(page, live_server, "/backoffice/repartition/")
    expect(page.get_by_role("heading", name="Répartition des doses")).to_be_visible()
    expect(page.get_by_text("manque le")).to_have_count(2)
    page.get_by_label("Livraison prévue le").fill(tomorrow().isoformat())
    page.get_by_label("Quota Comirnaty").fill("500")
    page.get_by_label("Comirnaty pour Pharmacie des Batignolles").fill("120")
    page.get_by_label("Comirnaty pour Cabinet du Dr Roux").fill("60")
    page.get_by_label("Comirnaty pour Hôpital Avicenne").fill("320")
    # htmx refreshes the totals as the quantities are typed.
    totals = page.locator("#totaux")
    expect(totals).to_contain_text("Comirnaty : 500 doses sur un quota de 500")
    axe_check(page)
    screenshot(page, "allocation")
    # Above the quota: said before anything is sent, then refused with the figures.
    page.get_by_label("Comirnaty pour Hôpital Avicenne").fill("400")
    expect(totals).to_contain_text("Comirnaty : 580 doses sur un quota de 500")
    expect(totals).to_contain_text("au-delà du quota")
    page.get_by_role("button", name="Enregistrer la répartition").click()
    expect(page.get_by_role("alert")).to_contain_text("(80 de trop)")
    axe_check(page)
    assert not Delivery.objects.filter(allocation__isnull=False).exists()
    page.get_by_label("Comirnaty pour Hôpital Avicenne").fill("320")
    expect(totals).to_contain_text("Comirnaty : 500 doses sur un quota de 500")
    page.get_by_role("button", name="Enregistrer la répartition").click()
    expect(page.get_by_text("Répartition enregistrée : 500 doses")).to_be_visible()
    assert Delivery.objects.filter(allocation__isnull=False).count() == 3
    # Avicenne's doses now come tomorrow; Bobigny still waits for day 10.
    expect(page.get_by_text("manque le")).to_have_count(1)


def test_the_allocation_table_works_without_javascript(new_page, live_server, region):
    page = new_page(javascript_enabled=False)
    sign_in(page, live_server, "/backoffice/repartition/")
    page.get_by_label("Quota Comirnaty").fill("100")
    page.get_by_label("Comirnaty pour Cabinet du Dr Roux").fill("100")
    page.get_by_label("Livraison prévue le").fill((tomorrow(7)).isoformat())
    axe_check(page)
    page.get_by_role("button", name="Enregistrer la répartition").click()
    expect(page.get_by_text("Répartition enregistrée : 100 doses")).to_be_visible()
    assert Delivery.objects.get(allocation__isnull=False).expected_on == tomorrow(7)
