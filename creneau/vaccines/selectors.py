"""Reads of the dose ledger and deliveries."""

from .models import Delivery


def site_lots(*, site_id: int) -> list[str]:
    """Lot numbers delivered to a site, newest first: what a nurse picks from."""
    lots = (
        Delivery.objects.filter(site_id=site_id)
        .exclude(lot="")
        .order_by("-pk")
        .values_list("lot", flat=True)
    )
    return list(dict.fromkeys(lots))
