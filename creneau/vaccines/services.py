from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.cache import kept_version_bump
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, NotFound, StockInsufficient
from creneau.sites.models import Site

from .models import Allocation, Delivery, Stock, Vaccine

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
    kept_version_bump("vaccines")  # products by code (scheduling.selectors.vaccine_by_code)
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
    (delivery,) = _deliveries_add(
        [
            Delivery(
                site=site,
                vaccine=vaccine,
                quantity=quantity,
                lot=lot,
                expected_on=expected_on,
                expires_on=expires_on,
                status=Delivery.Status.RECEIVED if received_at else Delivery.Status.EXPECTED,
                received_at=received_at,
            )
        ]
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            obj=delivery,
            site=site,
            summary=gettext("Livraison de %(quantity)s doses") % {"quantity": quantity},
        )
    return delivery


def _deliveries_add(deliveries: list[Delivery]) -> list[Delivery]:
    """The one way doses enter the ledger: the deliveries written, and each (site,
    vaccine)'s `delivered` raised by their quantities, in key order so that two writers
    of several rows (two allocations) never wait for each other in a circle. Their doses
    can be promised at once (invariant 2 counts deliveries confirmed for delivery)."""
    created = Delivery.objects.bulk_create(deliveries)
    added: dict[tuple[int, int], int] = {}
    for delivery in deliveries:
        pair = (delivery.site_id, delivery.vaccine_id)
        added[pair] = added.get(pair, 0) + delivery.quantity
    Stock.objects.bulk_create(
        [Stock(site_id=site_id, vaccine_id=vaccine_id) for site_id, vaccine_id in sorted(added)],
        ignore_conflicts=True,
    )
    for (site_id, vaccine_id), quantity in sorted(added.items()):
        Stock.objects.filter(site_id=site_id, vaccine_id=vaccine_id).update(
            delivered=F("delivered") + quantity
        )
    return created


@dataclass(frozen=True)
class AllocationLine:
    site_id: int
    vaccine_id: int
    quantity: int


ALLOCATION_MAX_DOSES = 1_000_000


@unit_of_work
def deliveries_allocate(
    *,
    actor: Actor,
    key: str,
    expected_on: date,
    quotas: dict[int, int],
    lines: list[AllocationLine],
    departments: list[str] | None,
) -> Allocation:
    """A week's expected deliveries shared among many sites at once: one confirmed
    delivery per site and vaccine with a quantity, each vaccine's total within the quota
    the authority typed (refused with the figures, nothing written), every site in the
    authority's departments (`None`: every department). The same form sent twice (same
    `key`) answers the allocation it recorded the first time."""
    known = Allocation.objects.filter(key=key).first()
    if known is not None:
        return known
    lines = [line for line in lines if line.quantity]
    if any(line.quantity < 0 or line.quantity > ALLOCATION_MAX_DOSES for line in lines):
        raise InvalidInput(
            gettext("Une quantité va de 0 à %(max)s doses.") % {"max": ALLOCATION_MAX_DOSES}
        )
    if not lines:
        raise InvalidInput(gettext("Aucune dose à répartir : saisissez des quantités."))
    vaccines = {v.pk: v for v in Vaccine.objects.filter(pk__in={line.vaccine_id for line in lines})}
    totals: dict[int, int] = {}
    for line in lines:
        if line.vaccine_id not in vaccines:
            raise NotFound(gettext("Vaccin introuvable : %(id)s.") % {"id": line.vaccine_id})
        totals[line.vaccine_id] = totals.get(line.vaccine_id, 0) + line.quantity
    over = [
        gettext(
            "%(vaccine)s : %(total)s doses réparties pour un quota de %(quota)s "
            "(%(excess)s de trop)."
        )
        % {
            "vaccine": vaccines[vaccine_id].name,
            "total": total,
            "quota": quotas.get(vaccine_id, 0),
            "excess": total - quotas.get(vaccine_id, 0),
        }
        for vaccine_id, total in sorted(totals.items(), key=lambda item: vaccines[item[0]].name)
        if total > quotas.get(vaccine_id, 0)
    ]
    if over:
        raise InvalidInput(
            " ".join([gettext("Au-delà du quota, rien n'est enregistré."), *over]),
            field="quota",
            totals=totals,
        )
    sites = Site.objects.filter(pk__in={line.site_id for line in lines}).exclude(
        status=Site.Status.CLOSED
    )
    if departments is not None:
        sites = sites.filter(department__in=departments)
    sites = {site.pk: site for site in sites.select_related("department")}
    if missing := sorted({line.site_id for line in lines} - set(sites)):
        raise NotFound(gettext("Lieu introuvable : %(id)s.") % {"id": missing[0]})
    try:
        with transaction.atomic():
            allocation = Allocation.objects.create(
                key=key,
                expected_on=expected_on,
                quotas={str(v): q for v, q in quotas.items() if q},
                created_by=actor.user,
            )
    except IntegrityError:
        # The same form, sent twice at once: the first one recorded it.
        return Allocation.objects.get(key=key)
    _deliveries_add(
        [
            Delivery(
                site_id=line.site_id,
                vaccine_id=line.vaccine_id,
                quantity=line.quantity,
                expected_on=expected_on,
                status=Delivery.Status.EXPECTED,
                allocation=allocation,
            )
            for line in sorted(lines, key=lambda line: (line.site_id, line.vaccine_id))
        ]
    )
    # One event per department, so that each regional scope reads its own share.
    for department in sorted({site.department for site in sites.values()}, key=lambda d: d.pk):
        share = [line for line in lines if sites[line.site_id].department_id == department.pk]
        audit_record(
            actor=actor,
            action="create",
            obj=allocation,
            department=department,
            summary=gettext(
                "Répartition de %(doses)s doses sur %(sites)s lieux, livrées le %(day)s"
            )
            % {
                "doses": sum(line.quantity for line in share),
                "sites": len({line.site_id for line in share}),
                "day": expected_on.strftime("%d/%m/%Y"),
            },
            details={
                "quotas": {vaccines[v].code: quotas.get(v, 0) for v in totals},
                "totals": {vaccines[v].code: total for v, total in totals.items()},
                "lines": [
                    [line.site_id, vaccines[line.vaccine_id].code, line.quantity] for line in share
                ],
            },
        )
    return allocation


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
