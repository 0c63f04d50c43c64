"""Signing staff in, in tests, through the real door: the password form, then the second
factor as the code step gives it (django-otp's session key naming a confirmed app of the
account; created confirmed when the account has none). Production code is unchanged: a
session without it is still sent to the code step."""

import time

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.demo.staff import DEMO_PASSWORD


def totp_code(device: TOTPDevice, at: float | None = None) -> str:
    """The code an authenticator app shows for `device` at `at` (now), or the next one
    when that step's code was already accepted: a code is accepted once."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    while totp.t() <= device.last_t:
        totp.time = totp.time + device.step
    return f"{totp.token():0{device.digits}d}"


def second_factor_give(client: Client, user) -> TOTPDevice:
    """Mark the client's session as past the second factor for `user`, as
    `django_otp.login` does at the code step."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def staff_sign_in(client: Client, username: str, password: str = DEMO_PASSWORD):
    """The password form's answer; when it signed the account in and sent it on to the
    second factor, the session is given it."""
    response = client.post(
        reverse("backoffice:login"), {"username": username, "password": password}
    )
    second_step = (reverse("backoffice:second_factor"), reverse("backoffice:second_factor_enrol"))
    if response.status_code == 302 and response["Location"].startswith(second_step):
        second_factor_give(client, get_user_model().objects.get(username=username))
    return response
