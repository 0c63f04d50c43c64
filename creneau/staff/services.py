"""Staff accounts: roles and scopes, and the lockout after repeated failed sign-ins."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from creneau.geography.models import Department
from creneau.sites.models import Site

from .models import LoginThrottle, StaffProfile

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
    """A staff account with its role and scope; the password must pass the validators."""
    user = get_user_model()(
        username=username, email=email, first_name=first_name, last_name=last_name
    )
    validate_password(password, user=user)
    user.set_password(password)
    user.save()
    profile = StaffProfile.objects.create(user=user, role=role)
    profile.sites.set(sites)
    profile.departments.set(departments)
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
