"""What an authority reads before it shares out a week's deliveries: for each site of
its scope and each vaccine, the doses on hand, the doses its sessions commit over the
next four weeks, its free places, how many days its doses cover, and whether its open
sessions need more doses than it will have by their day.

Set-based: four grouped queries over the whole scope (the ledger, the expected
deliveries, the slots of the window, the read model), whatever the number of sites;
the rest is arithmetic in Python on their rows."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import F, QuerySet, Sum

from creneau.sites.models import Site
from creneau.vaccines.models import Delivery, Stock, Vaccine

from .models import DayAvailability, Slot

WINDOW_DAYS = 28


@dataclass
class VaccineSupply:
    vaccine: Vaccine
    # Received and not given (what is in the fridge).
    on_hand: int = 0
    # Confirmed for delivery, not received yet (the allocations among them).
    expected: int = 0
    # Doses promised in the ledger by the places of the window's slots (a first-dose
    # place of a two-dose vaccine promises both doses).
    committed: int = 0
    # Places of the window: each one uses a dose on its day.
    places: int = 0
    # Days from the window's first that the doses on hand cover at the pace of the
    # window's places; None: they cover the whole window.
    cover_days: int | None = None
    # The first day whose sessions need more doses than the site will have by then (on
    # hand, plus what is expected by that day); None: never in the window.
    short_on: date | None = None


@dataclass
class SiteSupply:
    site: Site
    vaccines: dict[int, VaccineSupply] = field(default_factory=dict)
    free: int = 0

    @property
    def on_hand(self) -> int:
        return sum(v.on_hand for v in self.vaccines.values())

    @property
    def expected(self) -> int:
        return sum(v.expected for v in self.vaccines.values())

    @property
    def committed(self) -> int:
        return sum(v.committed for v in self.vaccines.values())

    @property
    def cover_days(self) -> int | None:
        days = [v.cover_days for v in self.vaccines.values() if v.cover_days is not None]
        return min(days) if days else None

    @property
    def short(self) -> list[VaccineSupply]:
        return [v for v in self.vaccines.values() if v.short_on is not None]


def supply_overview(
    *, sites: QuerySet[Site], today: date, vaccines: list[Vaccine]
) -> list[SiteSupply]:
    """The figures of every site of `sites` (a scope's queryset, not evaluated per site),
    in its order. Five queries in all."""
    end = today + timedelta(days=WINDOW_DAYS)
    by_vaccine = {vaccine.pk: vaccine for vaccine in vaccines}
    rows = {site.pk: SiteSupply(site=site) for site in sites}
    scope = list(rows)

    def entry(site_id: int, vaccine_id: int) -> VaccineSupply | None:
        if vaccine_id not in by_vaccine:
            return None
        supply = rows[site_id].vaccines.get(vaccine_id)
        if supply is None:
            supply = rows[site_id].vaccines[vaccine_id] = VaccineSupply(by_vaccine[vaccine_id])
        return supply

    # Expected deliveries by day: late ones (expected before today) count as today's.
    arriving: dict[tuple[int, int], dict[date, int]] = defaultdict(dict)
    for row in (
        Delivery.objects.filter(site_id__in=scope, status=Delivery.Status.EXPECTED)
        .values("site_id", "vaccine_id", "expected_on")
        .annotate(doses=Sum("quantity"))
    ):
        if supply := entry(row["site_id"], row["vaccine_id"]):
            supply.expected += row["doses"]
            day = max(row["expected_on"], today)
            days = arriving[row["site_id"], row["vaccine_id"]]
            days[day] = days.get(day, 0) + row["doses"]
    for stock in Stock.objects.filter(site_id__in=scope).values(
        "site_id", "vaccine_id", "delivered", "given"
    ):
        if supply := entry(stock["site_id"], stock["vaccine_id"]):
            supply.on_hand = stock["delivered"] - stock["given"] - supply.expected
    use: dict[tuple[int, int], dict[date, int]] = defaultdict(dict)
    for row in (
        Slot.objects.filter(site_id__in=scope, date__gte=today, date__lt=end)
        .values("site_id", "vaccine_id", "date")
        .annotate(places=Sum("capacity"), doses=Sum(F("capacity") * F("session__doses_per_place")))
    ):
        if supply := entry(row["site_id"], row["vaccine_id"]):
            supply.places += row["places"]
            supply.committed += row["doses"]
            use[row["site_id"], row["vaccine_id"]][row["date"]] = row["places"]
    for row in (
        DayAvailability.objects.filter(site_id__in=scope, date__gte=today, date__lt=end)
        .values("site_id")
        .annotate(free=Sum("free"))
    ):
        rows[row["site_id"]].free = row["free"]
    for (site_id, vaccine_id), days in use.items():
        supply = rows[site_id].vaccines[vaccine_id]
        _cover(supply, days=days, arriving=arriving.get((site_id, vaccine_id), {}), today=today)
    return list(rows.values())


def _cover(
    supply: VaccineSupply, *, days: dict[date, int], arriving: dict[date, int], today: date
) -> None:
    used = 0
    will_have = supply.on_hand
    for offset in range(WINDOW_DAYS):
        day = today + timedelta(days=offset)
        used += days.get(day, 0)
        will_have += arriving.get(day, 0)
        if supply.cover_days is None and used > supply.on_hand:
            supply.cover_days = offset
        if supply.short_on is None and used > will_have:
            supply.short_on = day
