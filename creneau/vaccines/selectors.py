"""Reads of the dose ledger and deliveries."""

from django.utils.translation import gettext

from creneau.core.errors import NotFound

from .models import Delivery, Stock


def site_lots(*, site_id: int) -> list[str]:
    """Lot numbers delivered to a site, newest first: what a nurse picks from."""
    lots = (
        Delivery.objects.filter(site_id=site_id)
        .exclude(lot="")
        .order_by("-pk")
        .values_list("lot", flat=True)
    )
    return list(dict.fromkeys(lots))


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
