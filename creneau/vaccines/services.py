from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, NotFound, StockInsufficient
from creneau.sites.models import Site

from .models import Delivery, Stock, Vaccine

# The products of the French 2021 campaign, as the Haute Autorité de santé framed them
# (intervals in days between dose 1 and dose 2), with their ATC class and their number in
# the EU's register (the Janssen vaccine was renamed Jcovden in 2022: same number).
VACCINES_2021 = [
    dict(
        code="comirnaty",
        atc_code="J07BX03",
        eu_number="EU/1/20/1528",
        name="Comirnaty",
        manufacturer="Pfizer-BioNTech",
        doses_in_series=2,
        interval_min_days=21,
        interval_recommended_days=42,
        interval_max_days=49,
        min_age=12,
    ),
    dict(
        code="spikevax",
        atc_code="J07BX03",
        eu_number="EU/1/20/1507",
        name="Spikevax",
        manufacturer="Moderna",
        doses_in_series=2,
        interval_min_days=28,
        interval_recommended_days=42,
        interval_max_days=49,
        min_age=12,
    ),
    dict(
        code="vaxzevria",
        atc_code="J07BX03",
        eu_number="EU/1/21/1529",
        name="Vaxzevria",
        manufacturer="AstraZeneca",
        doses_in_series=2,
        interval_min_days=63,
        interval_recommended_days=84,
        interval_max_days=84,
        min_age=55,
    ),
    dict(
        code="janssen",
        atc_code="J07BX03",
        eu_number="EU/1/20/1525",
        name="COVID-19 Vaccine Janssen",
        manufacturer="Janssen-Cilag",
        doses_in_series=1,
        min_age=55,
    ),
]


def vaccines_seed() -> int:
    """Create or update the 2021 products; safe to run again."""
    for product in VACCINES_2021:
        Vaccine.objects.update_or_create(code=product["code"], defaults=product)
    return len(VACCINES_2021)


def _stock_row(*, site_id: int, vaccine_id: int) -> None:
    """Make sure the ledger row exists; a concurrent creator is not an error."""
    Stock.objects.bulk_create(
        [Stock(site_id=site_id, vaccine_id=vaccine_id)], ignore_conflicts=True
    )


def stock_commit(*, site_id: int, vaccine_id: int, doses: int) -> None:
    """Promise doses from the uncommitted stock, or refuse: the database decides."""
    if doses <= 0:
        return
    _stock_row(site_id=site_id, vaccine_id=vaccine_id)
    taken = Stock.objects.filter(
        site_id=site_id,
        vaccine_id=vaccine_id,
        delivered__gte=F("committed") + F("given") + doses,
    ).update(committed=F("committed") + doses)
    if not taken:
        stock = Stock.objects.get(site_id=site_id, vaccine_id=vaccine_id)
        raise StockInsufficient(
            gettext(
                "Stock insuffisant : il faut %(needed)d doses, il en reste %(uncommitted)d "
                "non engagées (%(delivered)d livrées ou confirmées, %(committed)d "
                "engagées, %(given)d administrées)."
            )
            % {
                "needed": doses,
                "uncommitted": stock.uncommitted,
                "delivered": stock.delivered,
                "committed": stock.committed,
                "given": stock.given,
            },
            needed=doses,
            uncommitted=stock.uncommitted,
        )


def stock_give(*, site_id: int, vaccine_id: int, doses: int = 1) -> None:
    """Doses promised to a booked person were given: committed → given."""
    given = Stock.objects.filter(
        site_id=site_id, vaccine_id=vaccine_id, committed__gte=doses
    ).update(committed=F("committed") - doses, given=F("given") + doses)
    if not given:
        # Every booked place had its doses committed when its session opened (invariant 2).
        raise StockInsufficient(
            gettext("Aucune dose engagée pour ce vaccin dans ce lieu : le registre est à vérifier.")
        )


def stock_give_undo(*, site_id: int, vaccine_id: int, doses: int = 1) -> None:
    """Doses recorded as given by mistake: given → committed, promised again to the person
    they were for (the sum, and so invariant 2, does not move)."""
    undone = Stock.objects.filter(site_id=site_id, vaccine_id=vaccine_id, given__gte=doses).update(
        committed=F("committed") + doses, given=F("given") - doses
    )
    if not undone:
        # Every dose recorded as given moved one from committed to given here.
        raise StockInsufficient(
            gettext(
                "Aucune dose administrée pour ce vaccin dans ce lieu : le registre est à vérifier."
            )
        )


def stock_release(*, site_id: int, vaccine_id: int, doses: int) -> None:
    if doses <= 0:
        return
    Stock.objects.filter(site_id=site_id, vaccine_id=vaccine_id).update(
        committed=F("committed") - doses
    )


@unit_of_work
def delivery_record(
    *,
    actor: Actor | None = None,
    site: Site,
    vaccine: Vaccine,
    quantity: int,
    expected_on: date,
    lot: str = "",
    expires_on: date | None = None,
    received_at: datetime | None = None,
) -> Delivery:
    """Record a confirmed (or already received) delivery; its doses can be promised at once.
    `actor`: the member of staff recording it (recorded); None for loaders and tests."""
    if quantity <= 0:
        raise InvalidInput(gettext("La quantité livrée doit être positive."))
    delivery = Delivery.objects.create(
        site=site,
        vaccine=vaccine,
        quantity=quantity,
        lot=lot,
        expected_on=expected_on,
        expires_on=expires_on,
        status=Delivery.Status.RECEIVED if received_at else Delivery.Status.EXPECTED,
        received_at=received_at,
    )
    _stock_row(site_id=site.pk, vaccine_id=vaccine.pk)
    Stock.objects.filter(site=site, vaccine=vaccine).update(delivered=F("delivered") + quantity)
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            obj=delivery,
            site=site,
            summary=gettext("Livraison de %(quantity)s doses") % {"quantity": quantity},
        )
    return delivery


def _delivery_record_change(*, actor: Actor, delivery_id: int, summary: str) -> None:
    delivery = Delivery.objects.select_related("site__department").get(pk=delivery_id)
    audit_record(actor=actor, action="change", obj=delivery, site=delivery.site, summary=summary)


@unit_of_work
def delivery_receive(
    *, actor: Actor, delivery_id: int, lot: str = "", received_at: datetime | None = None
) -> None:
    updated = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.EXPECTED).update(
        status=Delivery.Status.RECEIVED,
        received_at=received_at or timezone.now(),
        **({"lot": lot} if lot else {}),
    )
    if not updated:
        raise NotFound(gettext("Livraison attendue introuvable."))
    _delivery_record_change(
        actor=actor, delivery_id=delivery_id, summary=gettext("Livraison reçue")
    )


@unit_of_work
def delivery_cancel(*, actor: Actor, delivery_id: int) -> None:
    """Cancel an expected delivery, unless its doses are already promised."""
    # Claim the delivery first so that two cancellations cannot both subtract it.
    claimed = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.EXPECTED).update(
        status=Delivery.Status.CANCELLED
    )
    if not claimed:
        raise NotFound(gettext("Livraison attendue introuvable."))
    delivery = Delivery.objects.get(pk=delivery_id)
    try:
        with transaction.atomic():
            Stock.objects.filter(site_id=delivery.site_id, vaccine_id=delivery.vaccine_id).update(
                delivered=F("delivered") - delivery.quantity
            )
    except IntegrityError:
        raise StockInsufficient(
            gettext(
                "Cette livraison couvre des doses déjà promises à des créneaux ouverts : "
                "fermez d'abord ces créneaux."
            )
        ) from None
    _delivery_record_change(
        actor=actor, delivery_id=delivery_id, summary=gettext("Livraison annulée")
    )
