"""Staff accounts: roles and scopes, the lockout after repeated failed sign-ins, and the
second factor (an authenticator app's time-based codes, and recovery codes)."""

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import CodeInvalid, InvalidInput, NotFound, TooManyRequests
from creneau.geography.models import Department
from creneau.sites.models import Site

from .models import ApiToken, LoginThrottle, StaffProfile
from .selectors import API_TOKEN_ROLES, api_token_hash

MAX_LOGIN_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@transaction.atomic
def staff_account_create(
    *,
    username: str,
    password: str,
    role: str,
    sites: list[Site] = (),
    departments: list[Department] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> AbstractBaseUser:
    """A staff account with its role and scope; the password must pass the validators,
    which are given the account with its sites (a password built on a site's name is
    refused): a refused password rolls the account back."""
    user = get_user_model()(
        username=username, email=email, first_name=first_name, last_name=last_name
    )
    user.set_unusable_password()
    user.save()
    profile = StaffProfile.objects.create(user=user, role=role)
    profile.sites.set(sites)
    profile.departments.set(departments)
    validate_password(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def login_failure_record(*, username: str, now: datetime | None = None) -> datetime | None:
    """Count a failed sign-in; the fifth in a row locks the name for 15 minutes. Answers
    when the lock ends, if this failure set one."""
    now = now or timezone.now()
    key = username.lower()[:150]
    LoginThrottle.objects.get_or_create(username=key)
    # Past an earlier lockout, counting starts again.
    LoginThrottle.objects.filter(username=key, locked_until__lte=now).update(
        failures=0, locked_until=None
    )
    LoginThrottle.objects.filter(username=key).update(failures=F("failures") + 1)
    locked = LoginThrottle.objects.filter(
        username=key, failures__gte=MAX_LOGIN_FAILURES, locked_until__isnull=True
    ).update(locked_until=now + LOCKOUT)
    return now + LOCKOUT if locked else None


def login_success_record(*, username: str) -> None:
    LoginThrottle.objects.filter(username=username.lower()[:150]).delete()


# The second factor. An account has at most one confirmed authenticator app (a
# TOTPDevice) and one set of recovery codes (a StaticDevice's tokens, each usable once).
RECOVERY_CODES = 10
TOTP_DEVICE_NAME = "Application d'authentification"
RECOVERY_DEVICE_NAME = "Codes de secours"
_SEPARATORS = re.compile(r"[\s\-.]+")


@dataclass(frozen=True)
class SecondFactorPassed:
    device: Device
    # True when a recovery code was spent: the page says how many are left.
    recovery: bool


@transaction.atomic
def totp_device_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator app being enrolled: a new secret, or the one already shown to
    this account and not confirmed yet (reloading the page keeps the QR code scanned)."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise CodeInvalid(gettext("La double authentification est déjà activée sur ce compte."))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


@unit_of_work
def totp_device_confirm(*, actor: Actor, device_id: int, token: str) -> list[str]:
    """The first code the app shows confirms it; answers the recovery codes, to be shown
    once. Only the account's own unconfirmed device, and only while it has no confirmed
    one: a second app is added by a reset (`second_factor_reset`), not with a password."""
    user = actor.user
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False)
        .first()
    )
    if device is None or TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise NotFound(gettext("Aucune activation en cours : recommencez."))
    if _totp_step(device, _token_clean(token), time.time()) is None:
        raise CodeInvalid(
            gettext(
                "Ce code ne correspond pas. Vérifiez l'heure du téléphone et saisissez le "
                "code affiché maintenant."
            )
        )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    codes = _recovery_codes_replace(user=user)
    audit_record(
        actor=actor,
        action="change",
        object_type="auth.user",
        object_id=user.pk,
        summary=gettext("Double authentification activée"),
    )
    return codes


@unit_of_work
def recovery_codes_renew(*, actor: Actor) -> list[str]:
    """New recovery codes for a signed-in, verified account; the old ones stop working."""
    if not TOTPDevice.objects.filter(user=actor.user, confirmed=True).exists():
        raise NotFound(gettext("La double authentification n'est pas activée sur ce compte."))
    codes = _recovery_codes_replace(user=actor.user)
    audit_record(
        actor=actor,
        action="change",
        object_type="auth.user",
        object_id=actor.user.pk,
        summary=gettext("Codes de secours renouvelés"),
    )
    return codes


def _recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
    )
    device.token_set.all().delete()
    codes = []
    while len(codes) < RECOVERY_CODES:
        code = StaticToken.random_token()
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def second_factor_verify(
    *, user: AbstractBaseUser, token: str, now: float | None = None
) -> SecondFactorPassed | None:
    """The code typed at sign-in: six digits from the app, or a recovery code. None when
    it is wrong; TooManyRequests while the account must wait after wrong codes (1, 2, 4,
    8… seconds: django-otp's throttle, kept on the app's device).

    Each acceptance is decided by the database, so that two requests carrying the same
    code cannot both pass: a time step is taken by `UPDATE … WHERE last_t < step` (a
    code seen once is not accepted again), a recovery code by its `DELETE`."""
    now = time.time() if now is None else now
    app = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if app is None:
        return None
    allowed, _ = app.verify_is_allowed()
    if not allowed:
        wait = app.get_throttle_factor() * (2 ** (app.throttling_failure_count - 1))
        raise TooManyRequests(
            gettext("Trop de codes refusés : attendez quelques secondes avant de réessayer."),
            retry_after=max(1, int(wait)),
        )
    token = _token_clean(token)
    if token.isdigit():
        step = _totp_step(app, token, now)
        if step is not None and TOTPDevice.objects.filter(pk=app.pk, last_t__lt=step[0]).update(
            last_t=step[0],
            drift=step[1],
            throttling_failure_count=0,
            throttling_failure_timestamp=None,
            last_used_at=timezone.now(),
        ):
            return SecondFactorPassed(device=app, recovery=False)
    else:
        spent, _ = StaticToken.objects.filter(
            device__user=user, device__confirmed=True, token=token
        ).delete()
        if spent:
            recovery = StaticDevice.objects.get(user=user)
            TOTPDevice.objects.filter(pk=app.pk).update(
                throttling_failure_count=0, throttling_failure_timestamp=None
            )
            return SecondFactorPassed(device=recovery, recovery=True)
    TOTPDevice.objects.filter(pk=app.pk).update(
        throttling_failure_count=F("throttling_failure_count") + 1,
        throttling_failure_timestamp=timezone.now(),
    )
    return None


@unit_of_work
def second_factor_reset(*, actor: Actor | None, user: AbstractBaseUser) -> None:
    """A lost phone and lost recovery codes: the app and the codes are removed, and the
    next sign-in enrols again (after the password). An operator's act (`manage.py
    staff_second_factor_reset`), recorded in the audit log."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(
        actor=actor,
        action="change",
        object_type="auth.user",
        object_id=user.pk,
        summary=gettext("Double authentification réinitialisée (%(username)s)")
        % {"username": user.get_username()},
    )


def _token_clean(token: str) -> str:
    return _SEPARATORS.sub("", token or "").lower()[:20]


def _totp_step(device: TOTPDevice, token: str, now: float) -> tuple[int, int] | None:
    """The time step and drift at which `token` is the device's code, within its
    tolerance (a phone's clock a step off), or None."""
    if not (token.isdigit() and len(token) == device.digits):
        return None
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = now
    if not totp.verify(int(token), device.tolerance):
        return None
    return totp.t(), totp.drift


# Staff API tokens ---------------------------------------------------------------------

API_TOKEN_MAX_DAYS = 366
# The token's first characters, kept in clear to tell an account's tokens apart.
API_TOKEN_PREFIX_LENGTH = 12
# last_used_at is written at most this often per token (a registry reads every minute).
API_TOKEN_USE_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiToken:
    token: ApiToken
    # The token itself: shown once, never stored.
    secret: str


@unit_of_work
def api_token_create(
    *,
    actor: Actor | None,
    user: AbstractBaseUser,
    name: str,
    days: int,
    now: datetime | None = None,
) -> NewApiToken:
    """A token for a national or regional authority's account, valid `days` days (at
    most a year): the authority for itself in the back office, or an operator
    (`manage.py staff_api_token`, actor None). Audited; only its hash is kept."""
    now = now or timezone.now()
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput(gettext("Le nom va de 1 à 100 caractères."), field="name")
    if not 1 <= days <= API_TOKEN_MAX_DAYS:
        raise InvalidInput(
            gettext("La durée va de 1 à %(max)d jours.") % {"max": API_TOKEN_MAX_DAYS},
            field="days",
        )
    profile = StaffProfile.objects.filter(user=user).first()
    if not user.is_active or profile is None or profile.role not in API_TOKEN_ROLES:
        raise InvalidInput(
            gettext("Seuls les comptes d'une autorité nationale ou régionale ont des jetons d'API.")
        )
    secret = "crn_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:API_TOKEN_PREFIX_LENGTH],
        token_hash=api_token_hash(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    audit_record(
        actor=actor,
        action="create",
        obj=token,
        summary=gettext("Jeton d'API créé pour %(username)s : %(name)s (%(prefix)s…)")
        % {"username": user.get_username(), "name": name, "prefix": token.prefix},
        details={"expires_at": token.expires_at.isoformat()},
    )
    return NewApiToken(token=token, secret=secret)


@unit_of_work
def api_token_revoke(
    *, actor: Actor | None, user: AbstractBaseUser, token_id: int, now: datetime | None = None
) -> ApiToken:
    """The account's token opens nothing from now on (its row stays, for the log)."""
    now = now or timezone.now()
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound(gettext("Jeton introuvable : %(id)s.") % {"id": token_id})
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        raise InvalidInput(gettext("Ce jeton est déjà révoqué."))
    audit_record(
        actor=actor,
        action="change",
        obj=token,
        summary=gettext("Jeton d'API révoqué pour %(username)s : %(name)s (%(prefix)s…)")
        % {"username": user.get_username(), "name": token.name, "prefix": token.prefix},
    )
    return token


def api_token_use(*, token: ApiToken, now: datetime) -> None:
    """When the token was last used, to the minute: one conditional update, so that a
    registry reading every second writes once a minute."""
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_TOKEN_USE_GRANULARITY)
    ).update(last_used_at=now)
