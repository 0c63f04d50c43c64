from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.errors import NotFound

from .models import Site


def public_sites_q(*, now: datetime | None = None) -> Q:
    """Sites the public may see: published, or drafts whose publication time has come.

    Scheduled publication needs no job to flip a flag at 8 a.m.: the clock decides.
    """
    now = now or timezone.now()
    return Q(status=Site.Status.PUBLISHED) | Q(status=Site.Status.DRAFT, publish_at__lte=now)


def site_is_public(*, site: Site, now: datetime | None = None) -> bool:
    """The same rule as public_sites_q, for a site already in hand."""
    now = now or timezone.now()
    return site.status == Site.Status.PUBLISHED or (
        site.status == Site.Status.DRAFT and site.publish_at is not None and site.publish_at <= now
    )


def site_list_public(*, now: datetime | None = None) -> QuerySet[Site]:
    return Site.objects.filter(public_sites_q(now=now))


def _site_not_found(site_id: int) -> NotFound:
    return NotFound(gettext("Lieu de vaccination introuvable : %(id)s.") % {"id": site_id})


def site_get_public(*, site_id: int, now: datetime | None = None) -> Site:
    site = (
        site_list_public(now=now).select_related("commune", "department").filter(pk=site_id).first()
    )
    if site is None:
        raise _site_not_found(site_id)
    return site


def site_require_public(*, site_id: int, now: datetime | None = None) -> None:
    """The same 404 as site_get_public, without reading the site."""
    if not site_list_public(now=now).filter(pk=site_id).exists():
        raise _site_not_found(site_id)
