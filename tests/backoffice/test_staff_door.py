"""The staff door's pages: enrolment at the first sign-in, the code step, the lockout that
an attacker cannot turn against a nurse, password spraying slowed, the idle timeout, the
password reset by e-mail, and the site's switch for its staff."""

import re
import time

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.middleware import SEEN_KEY
from creneau.staff.models import LoginThrottle, StaffProfile
from creneau.staff.services import MAX_LOGIN_FAILURES, staff_account_create
from tests.factories import make_site
from tests.staff_door import second_factor_give, staff_sign_in, totp_code

Role = StaffProfile.Role
WRONG = "wrong-password-123"
HOME = "/backoffice/"


@pytest.fixture
def site(reference):
    site = make_site(name="Centre Wagram")
    staff_account_create(
        username="chef",
        password=DEMO_PASSWORD,
        role=Role.SITE_MANAGER,
        sites=[site],
        email="chef@example.org",
    )
    staff_account_create(
        username="nurse", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[site]
    )
    return site


def password_step(client, username="chef", password=DEMO_PASSWORD, address="127.0.0.1", **data):
    return client.post(
        reverse("backoffice:login"),
        {"username": username, "password": password, **data},
        REMOTE_ADDR=address,
    )


def test_a_managers_first_sign_in_enrols_an_app_and_shows_the_recovery_codes_once(client, site):
    response = password_step(client, next=f"/backoffice/lieux/{site.pk}/gestion/")
    assert response["Location"].startswith(reverse("backoffice:second_factor_enrol"))
    assert client.get(HOME)["Location"].startswith(reverse("backoffice:login"))

    page = client.get(response["Location"])
    html = page.content.decode()
    assert '<svg role="img" aria-label="QR code' in html
    device = TOTPDevice.objects.get(user__username="chef", confirmed=False)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', html).group(1)
    assert len(secret.replace(" ", "")) == 32
    assert client.post(response["Location"], {"token": "000000"}).status_code == 400

    enrolled = client.post(response["Location"], {"token": totp_code(device)})

    assert enrolled["Location"].startswith(reverse("backoffice:recovery_codes"))
    shown = client.get(enrolled["Location"]).content.decode()
    assert len(re.findall(r"<code>[a-z2-7]{4}-[a-z2-7]{4}</code>", shown)) == 10
    assert f"/backoffice/lieux/{site.pk}/gestion/" in shown  # then on to the page asked
    assert "<code>" not in client.get(enrolled["Location"]).content.decode()
    assert client.get(HOME).status_code == 200
    assert AuditEvent.objects.filter(action="login", actor__username="chef").count() == 1


def test_an_enrolled_account_gives_its_code_after_the_password(client, site):
    chef = StaffProfile.objects.get(user__username="chef").user
    device = TOTPDevice.objects.create(user=chef, name="app", confirmed=True)
    response = password_step(client)
    assert response["Location"].startswith(reverse("backoffice:second_factor"))
    # Every staff page waits for it, and the sign-in page leads back to the code.
    assert client.get(HOME)["Location"].startswith(reverse("backoffice:login"))
    assert client.get(reverse("backoffice:login"))["Location"].startswith(
        reverse("backoffice:second_factor")
    )
    assert not AuditEvent.objects.filter(action="login").exists()

    refused = client.post(reverse("backoffice:second_factor"), {"token": "000000"})
    assert refused.status_code == 400
    assert AuditEvent.objects.filter(
        action="login_failed", summary="Code de double authentification refusé"
    ).exists()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)

    accepted = client.post(reverse("backoffice:second_factor"), {"token": totp_code(device)})

    assert accepted["Location"] == HOME
    assert client.get(HOME).status_code == 200
    assert AuditEvent.objects.filter(action="login", actor=chef).count() == 1


def test_site_staff_sign_in_with_the_password_alone_unless_their_site_asks(client, site):
    assert password_step(client, username="nurse")["Location"] == HOME
    client.post(reverse("backoffice:logout"))
    staff_sign_in(client, "chef")

    response = client.post(
        reverse("backoffice:site_second_factor", args=[site.pk]), {"required": "on"}
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="change", site=site)
    assert event.actor.username == "chef" and event.details == {"staff_second_factor": True}
    client.post(reverse("backoffice:logout"))
    assert password_step(client, username="nurse")["Location"].startswith(
        reverse("backoffice:second_factor_enrol")
    )


def test_site_staff_cannot_switch_their_sites_second_factor(client, site):
    staff_sign_in(client, "nurse")
    url = reverse("backoffice:site_second_factor", args=[site.pk])
    assert client.post(url, {"required": ""}).status_code == 404


def test_wrong_passwords_from_one_address_do_not_lock_the_nurse_out_of_another(client, site):
    chef = StaffProfile.objects.get(user__username="chef").user
    TOTPDevice.objects.create(user=chef, name="app", confirmed=True)
    for _ in range(MAX_LOGIN_FAILURES):
        password_step(client, password=WRONG, address="203.0.113.66")
    assert LoginThrottle.objects.get(username="chef").locked_until is not None
    # The attacker's address stays locked out, even with the right password.
    assert "bloqué jusqu" in password_step(client, address="203.0.113.66").content.decode()

    # From the ward's computer: the password, then (always, while locked) the code.
    response = password_step(client, address="10.1.2.3")

    assert response["Location"].startswith(reverse("backoffice:second_factor"))
    second_factor_give(client, chef)
    assert client.get(HOME, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_locked_account_without_a_second_factor_stays_locked_everywhere(client, site):
    for _ in range(MAX_LOGIN_FAILURES):
        password_step(client, username="nurse", password=WRONG, address="203.0.113.66")
    page = password_step(client, username="nurse", address="10.1.2.3").content.decode()
    assert "bloqué jusqu" in page and "_auth_user_id" not in client.session


def test_a_wrong_password_from_a_clean_address_while_locked_marks_that_address(client, site):
    chef = StaffProfile.objects.get(user__username="chef").user
    TOTPDevice.objects.create(user=chef, name="app", confirmed=True)
    for _ in range(MAX_LOGIN_FAILURES):
        password_step(client, password=WRONG, address="203.0.113.66")
    assert (
        "bloqué jusqu" in password_step(client, password=WRONG, address="10.9.9.9").content.decode()
    )
    assert "bloqué jusqu" in password_step(client, address="10.9.9.9").content.decode()


def test_password_spraying_from_one_address_is_slowed(client, site, settings):
    settings.LIMIT_SIGN_IN_FAILURES_PER_ADDRESS = "3/3600"
    for name in ("alice", "bob", "carol"):
        password_step(client, username=name, password="Printemps2021", address="198.51.100.7")

    refused = password_step(client, username="nurse", address="198.51.100.7")

    assert "Trop de connexions refusées depuis cette connexion" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(
        action="login_failed", summary="Adresse bloquée après trop d'échecs"
    ).exists()
    # Nobody's account was locked, and another address signs in.
    assert not LoginThrottle.objects.filter(locked_until__isnull=False).exists()
    assert password_step(client, username="nurse", address="10.1.2.3")["Location"] == HOME


def test_a_staff_session_ends_after_the_idle_minutes(client, site, settings):
    settings.STAFF_IDLE_MINUTES = 30
    staff_sign_in(client, "nurse")
    assert client.get(HOME).status_code == 200
    session = client.session
    session[SEEN_KEY] = int(time.time()) - 29 * 60
    session.save()
    assert client.get(HOME).status_code == 200  # 29 minutes: still there, and seen again
    session = client.session
    session[SEEN_KEY] = int(time.time()) - 31 * 60
    session.save()

    response = client.get(HOME, follow=True)

    assert response.redirect_chain[0][0].startswith(reverse("backoffice:login"))
    assert "30 minutes sans activité" in response.content.decode()
    assert AuditEvent.objects.filter(action="logout", summary="Déconnexion après inactivité")


def test_a_forgotten_password_is_reset_by_a_link_sent_by_e_mail(client, site, settings):
    settings.PUBLIC_URL = "https://creneau.example.fr"
    for _ in range(MAX_LOGIN_FAILURES):
        password_step(client, password=WRONG)
    unknown = client.post(reverse("backoffice:password_reset"), {"email": "x@example.org"})
    assert unknown["Location"] == reverse("backoffice:password_reset_done") and not mail.outbox

    sent = client.post(reverse("backoffice:password_reset"), {"email": "chef@example.org"})

    assert sent["Location"] == reverse("backoffice:password_reset_done")
    (message,) = mail.outbox
    assert message.to == ["chef@example.org"] and "nouveau mot de passe" in message.subject
    link = re.search(r"https://creneau\.example\.fr(/backoffice/mot-de-passe/\S+/)", message.body)
    form_url = client.get(link.group(1))["Location"]
    weak = client.post(
        form_url, {"new_password1": "marseille2021", "new_password2": "marseille2021"}
    )
    assert "plus utilisés en France" in weak.content.decode()
    new = "Lilas-Tournesol-Marelle-47"
    done = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert done["Location"] == reverse("backoffice:password_reset_complete")
    # The e-mail proved who asked: the lock is lifted; the code is still asked after it.
    assert not LoginThrottle.objects.filter(username="chef").exists()
    assert password_step(client, password=new)["Location"].startswith(
        reverse("backoffice:second_factor_enrol")
    )
    assert client.get(link.group(1)).status_code == 200  # the used link shows "no longer"
    assert "ne fonctionne plus" in client.get(link.group(1), follow=True).content.decode()


def test_password_reset_mails_are_limited_per_address(client, site, settings):
    settings.LIMIT_PASSWORD_RESETS_PER_ADDRESS = "2/3600"
    for _ in range(2):
        client.post(reverse("backoffice:password_reset"), {"email": "chef@example.org"})
    refused = client.post(reverse("backoffice:password_reset"), {"email": "chef@example.org"})
    assert refused.status_code == 429 and len(mail.outbox) == 2
