"""The second factor's services: who must give one, enrolment, codes accepted once, the
throttle after wrong codes, recovery codes, the operator's reset."""

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.audit.models import AuditEvent
from creneau.core.actor import Actor
from creneau.core.errors import CodeInvalid, TooManyRequests
from creneau.sites.services import site_second_factor_set
from creneau.staff.models import StaffProfile
from creneau.staff.selectors import recovery_codes_left, second_factor_required
from creneau.staff.services import (
    RECOVERY_CODES,
    second_factor_verify,
    staff_account_create,
    totp_device_confirm,
    totp_device_start,
)
from tests.factories import STAFF, make_site
from tests.staff_door import totp_code

PASSWORD = "long-enough-passphrase"
Role = StaffProfile.Role


def account(role=Role.CALL_CENTRE, username="agent", **scope):
    return staff_account_create(username=username, password=PASSWORD, role=role, **scope)


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = totp_device_start(user=user)
    codes = totp_device_confirm(
        actor=Actor(user=user), device_id=device.pk, token=totp_code(device)
    )
    device.refresh_from_db()
    return device, codes


@pytest.mark.parametrize(
    "role, required",
    [
        (Role.SITE_STAFF, False),
        (Role.SITE_MANAGER, True),
        (Role.CALL_CENTRE, True),
        (Role.REGIONAL_AUTHORITY, True),
        (Role.NATIONAL_AUTHORITY, True),
    ],
)
def test_managers_agents_and_authorities_must_give_a_second_factor(reference, role, required):
    sites = [make_site()] if role in (Role.SITE_STAFF, Role.SITE_MANAGER) else []
    assert second_factor_required(user=account(role, sites=sites)) is required


def test_site_staff_must_when_their_site_asks_it_and_the_switch_is_audited(reference):
    site = make_site(name="Centre Wagram")
    nurse = account(Role.SITE_STAFF, username="nurse", sites=[site])

    site_second_factor_set(actor=STAFF, site_id=site.pk, required=True)

    assert second_factor_required(user=nurse)
    event = AuditEvent.objects.get(site=site)
    assert event.action == "change" and event.details == {"staff_second_factor": True}
    site_second_factor_set(actor=STAFF, site_id=site.pk, required=False)
    assert not second_factor_required(user=nurse)


def test_an_account_that_enrolled_is_always_asked(reference):
    nurse = account(Role.SITE_STAFF, username="nurse", sites=[make_site()])
    enrolled(nurse)
    assert second_factor_required(user=nurse)


def test_the_admins_accounts_must(db, django_user_model):
    root = django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    assert second_factor_required(user=root)


def test_enrolment_keeps_its_secret_until_confirmed_then_gives_ten_single_codes(reference):
    user = account()
    device = totp_device_start(user=user)
    assert totp_device_start(user=user).pk == device.pk  # a reload shows the same QR code
    with pytest.raises(CodeInvalid):
        totp_device_confirm(actor=Actor(user=user), device_id=device.pk, token="000000")

    codes = totp_device_confirm(
        actor=Actor(user=user), device_id=device.pk, token=totp_code(device)
    )

    assert len(set(codes)) == RECOVERY_CODES and recovery_codes_left(user=user) == RECOVERY_CODES
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    with pytest.raises(CodeInvalid):  # a second app needs the operator's reset
        totp_device_start(user=user)
    assert AuditEvent.objects.filter(actor=user, summary="Double authentification activée").exists()


def test_a_code_is_accepted_once_and_a_wrong_one_never(reference):
    user = account()
    device, _ = enrolled(user)
    later = time.time() + 60  # the step after the enrolment's code
    good = totp_code(device, at=later)

    assert second_factor_verify(user=user, token="123 456", now=later) is None
    device.refresh_from_db()
    device.throttling_failure_timestamp = None  # past the throttle's wait
    device.save()
    assert second_factor_verify(user=user, token=good, now=later).device.pk == device.pk
    assert second_factor_verify(user=user, token=good, now=later) is None


def test_wrong_codes_make_the_account_wait(reference):
    user = account()
    enrolled(user)
    assert second_factor_verify(user=user, token="000000") is None
    with pytest.raises(TooManyRequests):
        second_factor_verify(user=user, token="000000")


def test_a_recovery_code_works_once_with_or_without_its_dash(reference):
    user = account()
    _, codes = enrolled(user)
    typed = f"{codes[0][:4]}-{codes[0][4:]}".upper()

    passed = second_factor_verify(user=user, token=typed)

    assert passed is not None and passed.recovery
    assert recovery_codes_left(user=user) == RECOVERY_CODES - 1
    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0)
    assert second_factor_verify(user=user, token=codes[0]) is None


def test_the_operator_resets_a_lost_phone_and_the_next_sign_in_enrols_again(reference):
    user = account()
    enrolled(user)
    out = io.StringIO()

    call_command("staff_second_factor_reset", "agent", stdout=out)

    assert "agent" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert second_factor_required(user=user)  # a manager's role still asks it: enrolment
    assert AuditEvent.objects.filter(summary__startswith="Double authentification réinitialisée")


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_requests_with_the_same_code_only_one_gets_in(reference_committed):
    """The time step is taken by a conditional UPDATE, the recovery code by its DELETE:
    two sign-ins racing with one code (a replay) cannot both pass."""
    user = account()
    device, codes = enrolled(user)
    now = time.time() + 60
    for token in (totp_code(device, at=now), codes[0]):
        barrier = threading.Barrier(4)
        passed = []

        def attempt(token=token, barrier=barrier, passed=passed):
            try:
                barrier.wait()
                passed.append(second_factor_verify(user=user, token=token, now=now))
            except TooManyRequests:
                passed.append(None)
            finally:
                connection.close()

        threads = [threading.Thread(target=attempt) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for result in passed if result is not None) == 1, token
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_count=0, throttling_failure_timestamp=None
        )
