"""Who does a staff action: what the audit log records of them."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models


@dataclass(frozen=True)
class Actor:
    """The account acting, its staff profile, and where the request came from.

    Built once at the staff front door (`staff.access.staff_view` puts it in
    `request.actor`) and passed, keyword-only, to every service that changes something on
    a member of staff's behalf; the service writes the audit event itself, in its own
    transaction. No actor (None) is the person themself, through the portal or the API,
    or the system (loaders, workers): nobody whose access to personal data is audited.
    `profile` is the account's `staff.StaffProfile` (typed loosely: `core` imports no app).
    """

    # Anonymous at a refused sign-in; None for the system.
    user: AbstractBaseUser | AnonymousUser | None
    profile: models.Model | None = None
    ip: str | None = None
    user_agent: str = ""
