"""What browsers are told (issue 16, item 8): a content security policy without inline
code, a permissions policy, no cache for answers about a person, HTTPS only behind an
https:// PUBLIC_URL, and `check --deploy` clean under the production settings."""

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from creneau.booking.services import booking_confirm, hold_create
from tests.factories import person, two_dose_site, verified_contact

ROOT = Path(__file__).resolve().parents[2]
UNSET = ("PUBLIC_URL", "DEBUG", "CRENEAU_DEMO", "PYTEST_VERSION", "PYTEST_CURRENT_TEST")
# Production's encryption keys, so that each case fails (or not) on what it tests.
KEYS = {
    "FIELD_ENCRYPTION_KEYS": "1:" + base64.urlsafe_b64encode(bytes(32)).decode(),
    "BLIND_INDEX_KEY": base64.urlsafe_b64encode(bytes(range(32))).decode(),
    "FIELD_KEYS_FILE": "",
}


def production(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **base,
            **KEYS,
            "PUBLIC_URL": "https://creneau.example.fr",
            "SECRET_KEY": secrets.token_urlsafe(50),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_production_settings():
    done = production("check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_https_settings_follow_public_url():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_PROXY_SSL_HEADER, s.SECURE_REDIRECT_EXEMPT)"
    )
    done = production("shell", "--no-imports", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:4] == ["True", "31536000", "True", "('HTTP_X_FORWARDED_PROTO',"]
    assert "healthz" in done.stdout


def test_pages_forbid_inline_code_and_ask_only_for_the_position(client, reference):
    answer = client.get("/")
    policy = answer["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "geolocation=(self)" in answer["Permissions-Policy"]
    assert "camera=()" in answer["Permissions-Policy"]
    assert "microphone=()" in answer["Permissions-Policy"]


@pytest.fixture
def booked(reference):
    _site, session = two_dose_site()
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    return booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person())


def test_answers_about_a_person_are_not_kept_and_public_ones_may_be(client, booked, settings):
    link = reverse("portal:booking", args=[booked.series.reference])
    opened = client.get(link, {"cle": booked.management_token}, follow=True)
    assert opened.status_code == 200 and "Martin" in opened.content.decode()
    assert opened["Cache-Control"] == "no-store"
    for path in ("/gerer/", "/reserver/personne/", "/backoffice/", "/callcenter/"):
        assert client.get(path)["Cache-Control"] == "no-store", path
    api = client.get("/api/v1/bookings/" + booked.series.reference)
    assert api["Cache-Control"] == "no-store"
    for path in ("/", "/eligibilite/", "/accessibilite/", "/api/v1/sites?near=75017"):
        assert "Cache-Control" not in client.get(path), path


def test_a_booking_opened_from_a_link_is_forgotten_when_the_browser_closes(client, booked):
    link = reverse("portal:booking", args=[booked.series.reference])
    client.get(link, {"cle": booked.management_token})
    cookie = client.cookies["sessionid"]
    # A cookie without an expiry: the browser drops it when it closes.
    assert not cookie["expires"] and not cookie["max-age"]
    assert client.session.get_expire_at_browser_close()


def test_forgetting_a_booking_on_this_device_ends_the_session(client, booked):
    link = reverse("portal:booking", args=[booked.series.reference])
    client.get(link, {"cle": booked.management_token})
    assert client.get(link).status_code == 200
    forgotten = client.post(reverse("portal:forget", args=[booked.series.reference]), follow=True)
    assert "oublié sur cet appareil" in forgotten.content.decode()
    again = client.get(link)
    assert again.status_code == 302 and again["Location"].startswith(reverse("portal:manage"))


def test_the_phone_menu_is_served_with_the_header_links_so_no_script_rewrites_it(client, reference):
    # DSFR's script copies the header's links into the phone menu by innerHTML (style
    # attributes included, which the policy refuses) unless both already hold the same.
    page = client.get("/").content.decode()
    tools = re.search(r'<div class="fr-header__tools-links">(.*?)</div>', page, re.S)[1]
    menu = re.search(r'<div class="fr-header__menu-links"[^>]*>(.*?)</div>', page, re.S)[1]
    assert "Gérer un rendez-vous" in tools
    assert menu == tools
    assert 'id="' not in tools  # an id would need DSFR's "-mobile" suffix in the copy
