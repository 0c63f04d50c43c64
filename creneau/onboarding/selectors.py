"""Reads of applications, a site's team, and the sites that vaccinate without slots."""

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext

from creneau.core.errors import NotFound
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile
from creneau.vaccines.models import Stock

from .models import Application, SiteWithoutSlots
from .services import SITE_ROLES


def application_list(
    *, departments: list[str] | None, status: str = Application.Status.PENDING
) -> QuerySet[Application]:
    """Applications of these departments (None: every one), oldest first."""
    applications = Application.objects.filter(status=status).select_related("commune", "department")
    if departments is not None:
        applications = applications.filter(department__in=departments)
    return applications.order_by("created_at", "pk")


def application_get(*, departments: list[str] | None, application_id: int) -> Application:
    """An application of these departments, or the same 404 as one that does not exist."""
    scope = Application.objects.select_related("commune", "department", "site", "decided_by")
    if departments is not None:
        scope = scope.filter(department__in=departments)
    application = scope.filter(pk=application_id).first()
    if application is None:
        raise NotFound(gettext("Demande introuvable : %(id)s.") % {"id": application_id})
    return application


def site_team(*, site: Site) -> list[StaffProfile]:
    """The site staff and managers of a site, active first, by name."""
    return list(
        StaffProfile.objects.filter(sites=site, role__in=SITE_ROLES)
        .select_related("user")
        .order_by("-user__is_active", "user__username")
    )


def sites_without_slots(*, site_ids: list[int]) -> set[int]:
    """Of these sites, those that said they vaccinate without appointments online and
    have received (or been confirmed) no dose: shown as "vaccinates here, no appointments
    online yet". One query."""
    dosed = Stock.objects.filter(site_id=OuterRef("site_id"), delivered__gt=0)
    return set(
        SiteWithoutSlots.objects.filter(site_id__in=site_ids)
        .exclude(Exists(dosed))
        .values_list("site_id", flat=True)
    )
