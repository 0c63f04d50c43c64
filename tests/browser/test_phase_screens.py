"""The authorities' new screens in a real browser, checked with axe: the national
authority previews and saves an eligibility rule, then schedules a department's
publication and cancels it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from creneau.demo.staff import DEMO_PASSWORD
from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from creneau.sites.models import DepartmentPublication, Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, second_factor_type, staff_app
from tests.factories import make_site


@pytest.fixture
def national(reference_committed):
    make_site(name="Centre en brouillon", status=Site.Status.DRAFT)
    staff_account_create(
        username="ministere", password=DEMO_PASSWORD, role=StaffProfile.Role.NATIONAL_AUTHORITY
    )


def test_the_national_authority_schedules_a_phase_and_a_departments_publication(
    page, live_server, national
):
    app = staff_app("ministere")
    page.goto(f"{live_server.url}/backoffice/eligibilite/")
    page.get_by_label("Identifiant").fill("ministere")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    second_factor_type(page, app)
    expect(page.get_by_role("heading", name="Règles d'éligibilité")).to_be_visible()
    axe_check(page)

    page.get_by_role("link", name="Nouvelle règle").click()
    opens = (timezone.now() + timedelta(days=7)).astimezone(RULES_TIMEZONE)
    page.get_by_label("Nom de la règle").fill("Personnes de 70 ans et plus")
    page.get_by_label("Phrase affichée au public").fill("Les personnes de 70 ans et plus")
    page.get_by_label("Âge minimal le jour du rendez-vous").fill("70")
    page.get_by_label("En vigueur à partir du (heure de Paris)").fill(
        opens.strftime("%Y-%m-%dT08:00")
    )
    page.get_by_role("button", name="Voir l'aperçu").click()
    expect(page.get_by_role("heading", name="Aperçu avant d'enregistrer")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Enregistrer la règle").click()
    expect(page.get_by_text("Règle « Personnes de 70 ans et plus » enregistrée.")).to_be_visible()
    assert (
        EligibilityRule.objects.get(min_age=70).effective_from.astimezone(RULES_TIMEZONE).hour == 8
    )

    page.get_by_role("link", name="Réserver un lieu à certaines catégories").click()
    axe_check(page)

    page.goto(f"{live_server.url}/backoffice/publication/")
    axe_check(page)
    page.get_by_role("combobox", name="Département").select_option("75")
    page.get_by_label("Publier le (heure locale du département)").fill(
        opens.strftime("%Y-%m-%dT08:00")
    )
    page.get_by_role("button", name="Programmer").click()
    expect(page.get_by_text("Publication des lieux du département 75 programmée.")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Annuler la publication du département 75").click()
    expect(page.get_by_text("Publication des lieux du département 75 annulée.")).to_be_visible()
    assert DepartmentPublication.objects.get().status == "cancelled"
