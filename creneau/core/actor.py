"""Who does a staff action: what the audit log records of them."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
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

    user: AbstractBaseUser | None
    profile: models.Model | None = None
    ip: str | None = None
    user_agent: str = ""

    @property
    def label(self) -> str:
        """The account's name, kept in the event as it was even if it is renamed later."""
        return self.user.get_username() if self.user is not None else ""
