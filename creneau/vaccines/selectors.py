"""Reads of the dose ledger and deliveries."""

from datetime import date

from django.db.models import Q
from django.utils.translation import gettext

from creneau.core.errors import NotFound

from .models import Delivery, Stock


def site_lots(*, site_id: int, today: date) -> dict[int, list[str]]:
    """The lots a nurse may pick, per vaccine id: received at the site and not expired,
    the newest delivery first (its lot is proposed)."""
    lots: dict[int, list[str]] = {}
    for vaccine_id, lot in (
        Delivery.objects.filter(site_id=site_id, status=Delivery.Status.RECEIVED)
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=today))
        .exclude(lot="")
        .order_by("-received_at", "-pk")
        .values_list("vaccine_id", "lot")
    ):
        if lot not in lots.setdefault(vaccine_id, []):
            lots[vaccine_id].append(lot)
    return lots


def lot_deliveries(*, site_id: int, lot: str) -> list[Delivery]:
    """The site's deliveries of this lot (a lot number names one batch of one vaccine)."""
    return list(
        Delivery.objects.filter(site_id=site_id, lot__iexact=lot)
        .exclude(status=Delivery.Status.CANCELLED)
        .select_related("vaccine")
    )


def site_stock(*, site_id: int) -> list[Stock]:
    """The dose ledger of each vaccine at a site (delivered, committed, given)."""
    return list(
        Stock.objects.filter(site_id=site_id).select_related("vaccine").order_by("vaccine__name")
    )


def site_deliveries(*, site_id: int, limit: int = 50) -> list[Delivery]:
    """A site's deliveries, the most recently expected first."""
    return list(
        Delivery.objects.filter(site_id=site_id)
        .select_related("vaccine")
        .order_by("-expected_on", "-pk")[:limit]
    )


def delivery_get(*, site_id: int, delivery_id: int) -> Delivery:
    delivery = Delivery.objects.filter(site_id=site_id, pk=delivery_id).first()
    if delivery is None:
        raise NotFound(gettext("Livraison introuvable : %(id)s.") % {"id": delivery_id})
    return delivery
