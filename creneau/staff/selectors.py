"""Who may see what: the scope of a staff account, applied to every query of the back
office and the call centre. Outside the scope is "not found", never "forbidden", so an
id from another site tells nothing."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.core.errors import NotFound, Unauthorized
from creneau.sites.models import Site

from .models import ApiToken, LoginThrottle, StaffProfile

Role = StaffProfile.Role
# What each role may do, beyond seeing its scope.
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.SITE_STAFF: frozenset({"day.work"}),
    Role.SITE_MANAGER: frozenset({"day.work", "site.manage", "session.cancel"}),
    Role.CALL_CENTRE: frozenset({"callcentre.book", "letters.print"}),
    # platforms.read: the health of other platforms' feeds (creneau/interop) at its sites;
    # api_tokens.manage: its own staff API tokens (the national registry's reads).
    Role.REGIONAL_AUTHORITY: frozenset(
        {"site.manage", "session.cancel", "audit.read", "campaigns.manage"}
        | {"platforms.read", "api_tokens.manage"}
        # publication.manage: a department's drafts published at an hour (its own ones).
        | {"publication.manage"}
    ),
    # platforms.manage: registering other booking platforms, national objects.
    Role.NATIONAL_AUTHORITY: frozenset(
        {"site.manage", "session.cancel", "audit.read", "letters.print", "campaigns.manage"}
        | {"platforms.read", "platforms.manage", "api_tokens.manage"}
        # eligibility.manage: the rules (phases) and the sites' restrictions, national.
        | {"publication.manage", "eligibility.manage"}
    ),
}
# Onboarding and dose allocation (creneau/onboarding, backoffice/onboarding_views.py and
# allocation_views.py): applications reviewed and doses shared out by the authorities, a
# site's team managed by its manager and by the authorities over it.
for _role, _added in (
    (Role.SITE_MANAGER, {"staff.manage"}),
    (Role.REGIONAL_AUTHORITY, {"staff.manage", "sites.onboard", "doses.allocate"}),
    (Role.NATIONAL_AUTHORITY, {"staff.manage", "sites.onboard", "doses.allocate"}),
):
    PERMISSIONS[_role] = PERMISSIONS[_role] | _added
EVERY_SITE = frozenset({Role.CALL_CENTRE, Role.NATIONAL_AUTHORITY})
# Roles that always sign in with a second factor; site staff do when one of their sites
# asks it (`Site.staff_second_factor`).
SECOND_FACTOR_ROLES = frozenset(
    {Role.SITE_MANAGER, Role.CALL_CENTRE, Role.REGIONAL_AUTHORITY, Role.NATIONAL_AUTHORITY}
)


def staff_profile_get(*, user: AbstractBaseUser | AnonymousUser) -> StaffProfile | None:
    """The staff profile of a signed-in, active account, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    return StaffProfile.objects.filter(user=user).prefetch_related("sites", "departments").first()


def staff_may(*, profile: StaffProfile, permission: str) -> bool:
    return permission in PERMISSIONS.get(profile.role, frozenset())


def staff_sites_q(*, profile: StaffProfile, prefix: str = "") -> Q:
    """A filter on sites (or, with `prefix`, on objects reached through a site, e.g.
    "slot__site__") that keeps what this profile covers."""
    if profile.role in EVERY_SITE:
        return Q()
    if profile.role == Role.REGIONAL_AUTHORITY:
        return Q(**{f"{prefix}department__in": [d.pk for d in profile.departments.all()]})
    sites = [site.pk for site in profile.sites.all()]
    return Q(**{f"{prefix}in": sites}) if prefix else Q(pk__in=sites)


def staff_site_list(*, profile: StaffProfile) -> QuerySet[Site]:
    return (
        Site.objects.filter(staff_sites_q(profile=profile))
        .select_related("commune", "department")
        .order_by("name")
    )


def staff_site_get(*, profile: StaffProfile, site_id: int) -> Site:
    """A site in this profile's scope, or the same 404 as a site that does not exist."""
    site = staff_site_list(profile=profile).filter(pk=site_id).first()
    if site is None:
        raise NotFound(gettext("Lieu introuvable : %(id)s.") % {"id": site_id})
    return site


def staff_audit_scope(*, profile: StaffProfile) -> dict[str, list[int] | None]:
    """The `audit_list` scope of an account that may read the log: every event for the
    national authority, the events of its departments for a regional one, and of its
    own sites for anyone else."""
    if profile.role == Role.NATIONAL_AUTHORITY:
        return {"sites": None, "departments": None}
    if profile.role == Role.REGIONAL_AUTHORITY:
        return {"sites": None, "departments": [d.pk for d in profile.departments.all()]}
    return {"sites": [site.pk for site in profile.sites.all()], "departments": None}


def login_locked_until(*, username: str, now: datetime | None = None) -> datetime | None:
    """When the lockout of this account name ends, if it is locked now."""
    now = now or timezone.now()
    return (
        LoginThrottle.objects.filter(username=username.lower()[:150], locked_until__gt=now)
        .values_list("locked_until", flat=True)
        .first()
    )


def second_factor_enrolled(*, user: AbstractBaseUser) -> bool:
    """The account has an authenticator app confirmed (its recovery codes come with it)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_required(*, user: AbstractBaseUser) -> bool:
    """Whether this account's sign-in needs the second factor: Django's admin accounts,
    the roles of SECOND_FACTOR_ROLES, site staff of a site that asks it, and any account
    that has enrolled (a factor once set up is always asked, or an attacker with the
    password alone would choose not to be asked)."""
    if user.is_staff or user.is_superuser or second_factor_enrolled(user=user):
        return True
    profile = StaffProfile.objects.filter(user=user).first()
    if profile is None:
        return False
    if profile.role in SECOND_FACTOR_ROLES:
        return True
    return profile.sites.filter(staff_second_factor=True).exists()


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# Staff API tokens: who may hold one, and what one opens.
API_TOKEN_ROLES = frozenset({Role.REGIONAL_AUTHORITY, Role.NATIONAL_AUTHORITY})


def api_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiAccess:
    """A request authenticated by a staff API token: the token, its account's profile (None
    when the account has lost it)."""

    token: ApiToken
    profile: StaffProfile | None


def api_token_authenticate(*, secret: str, now: datetime | None = None) -> ApiAccess:
    """The token's account, or 401: an unknown, expired or revoked token, or an account
    that was deactivated, all get the same answer."""
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(
            token_hash=api_token_hash(secret[:200]), revoked_at__isnull=True, expires_at__gt=now
        )
        .first()
    )
    if token is None or not token.user.is_active:
        raise Unauthorized(gettext("Jeton d'API invalide, expiré ou révoqué."))
    profile = StaffProfile.objects.filter(user=token.user).prefetch_related("departments").first()
    return ApiAccess(token=token, profile=profile)


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)
