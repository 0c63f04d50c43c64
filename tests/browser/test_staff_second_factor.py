"""The second factor in a real browser: a manager's first sign-in enrols an authenticator
app (the secret typed from the page, as without a camera), notes the recovery codes, and
signs in again with a code; then with a recovery code. Every page checked by axe-core."""

import base64
import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import axe_check, second_factor_type
from tests.factories import make_site


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


def app_code(secret: str) -> str:
    """What the phone's app shows for the secret typed from the page."""
    totp = TOTP(base64.b32decode(secret.replace(" ", "")))
    return f"{totp.token():06d}"


def sign_in_password(page, live_server) -> None:
    page.goto(live_server.url + "/backoffice/")
    page.get_by_label("Identifiant").fill("responsable")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


@pytest.mark.parametrize("javascript_enabled", [True, False])
def test_a_manager_enrols_at_the_first_sign_in_then_signs_in_with_a_code(
    new_page, live_server, site, javascript_enabled
):
    page = new_page(javascript_enabled=javascript_enabled)
    sign_in_password(page, live_server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer la double authentification")
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    axe_check(page)
    secret = page.locator("#totp-secret").inner_text()

    page.get_by_label("Code affiché par l'application").fill("000000")
    page.get_by_role("button", name="Activer").click()
    expect(page.locator("#id_token-desc-error")).to_contain_text("Ce code ne correspond pas")
    axe_check(page)
    page.get_by_label("Code affiché par l'application").fill(app_code(secret))
    page.get_by_role("button", name="Activer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Codes de secours")
    codes = page.get_by_role("list", name="Vos codes de secours").locator("code").all_inner_texts()
    assert len(codes) == 10
    axe_check(page)
    page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes lieux")

    page.get_by_role("button", name=re.compile("Se déconnecter")).click()
    sign_in_password(page, live_server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Code de vérification")
    axe_check(page)
    second_factor_type(page, TOTPDevice.objects.get(user__username="responsable"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes lieux")

    page.get_by_role("button", name=re.compile("Se déconnecter")).click()
    sign_in_password(page, live_server)
    page.get_by_label("Code de vérification").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Code de secours utilisé")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes lieux")
    axe_check(page)
