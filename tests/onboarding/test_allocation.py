"""A week's deliveries shared among sites within quotas, and the overview an authority
reads: on hand, committed over four weeks, free places, days of cover, sites short."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.core.errors import InvalidInput, NotFound
from creneau.scheduling.supply import supply_overview
from creneau.sites.models import Site
from creneau.vaccines.models import Allocation, Delivery, Stock, Vaccine
from creneau.vaccines.services import AllocationLine, deliveries_allocate
from tests.factories import make_site, open_session, tomorrow, vaccine

from .helpers import authority, receive


@pytest.fixture
def sites(reference):
    return {
        "paris": make_site(name="Paris 17", insee_code="75117"),
        "bobigny": make_site(name="Bobigny", insee_code="93008"),
        "marseille": make_site(name="Marseille", insee_code="13201"),
    }


def allocate(actor, lines, quotas, departments, key="k1"):
    return deliveries_allocate(
        actor=actor,
        key=key,
        expected_on=tomorrow(3),
        quotas=quotas,
        lines=[AllocationLine(site_id=s.pk, vaccine_id=v.pk, quantity=q) for s, v, q in lines],
        departments=departments,
    )


def test_an_allocation_confirms_deliveries_the_sites_can_promise_at_once(sites):
    idf = authority("ars.idf", "75", "93")
    comirnaty, janssen = vaccine(), vaccine("janssen")
    allocation = allocate(
        idf,
        [
            (sites["paris"], comirnaty, 300),
            (sites["bobigny"], comirnaty, 200),
            (sites["bobigny"], janssen, 50),
        ],
        {comirnaty.pk: 500, janssen.pk: 60},
        ["75", "93"],
    )
    deliveries = Delivery.objects.filter(allocation=allocation)
    assert sorted(deliveries.values_list("site__name", "vaccine__code", "quantity", "status")) == [
        ("Bobigny", "comirnaty", 200, "expected"),
        ("Bobigny", "janssen", 50, "expected"),
        ("Paris 17", "comirnaty", 300, "expected"),
    ]
    assert Stock.objects.get(site=sites["paris"], vaccine=comirnaty).delivered == 300
    # Invariant 2 counts deliveries confirmed for delivery: a session opens on them.
    open_session(sites["paris"], lines=10, start=time(9), end=time(12), slot_minutes=30)
    # One event per department, each for its own authority's log.
    events = AuditEvent.objects.filter(actor=idf.user, object_type="vaccines.allocation")
    assert sorted(events.values_list("department_id", flat=True)) == ["75", "93"]


def test_above_the_quota_is_refused_with_the_figures_and_nothing_written(sites):
    idf = authority("ars.idf", "75", "93")
    comirnaty = vaccine()
    with pytest.raises(InvalidInput) as refused:
        allocate(
            idf,
            [(sites["paris"], comirnaty, 300), (sites["bobigny"], comirnaty, 250)],
            {comirnaty.pk: 500},
            ["75", "93"],
        )
    assert "550 doses réparties pour un quota de 500 (50 de trop)" in refused.value.message
    assert not Delivery.objects.exists() and not Allocation.objects.exists()
    assert not Stock.objects.filter(delivered__gt=0).exists()
    with pytest.raises(InvalidInput, match="quota de 0"):
        allocate(idf, [(sites["paris"], comirnaty, 1)], {}, ["75"])


def test_another_regions_site_is_not_found_and_nothing_is_written(sites):
    idf = authority("ars.idf", "75", "93")
    comirnaty = vaccine()
    with pytest.raises(NotFound):
        allocate(
            idf,
            [(sites["paris"], comirnaty, 10), (sites["marseille"], comirnaty, 10)],
            {comirnaty.pk: 100},
            ["75", "93"],
        )
    assert not Delivery.objects.exists()
    Site.objects.filter(pk=sites["paris"].pk).update(status=Site.Status.CLOSED)
    with pytest.raises(NotFound):
        allocate(idf, [(sites["paris"], comirnaty, 10)], {comirnaty.pk: 100}, ["75"])


def test_the_same_form_sent_twice_allocates_once(sites):
    idf = authority("ars.idf", "75")
    comirnaty = vaccine()
    first = allocate(idf, [(sites["paris"], comirnaty, 10)], {comirnaty.pk: 10}, ["75"])
    again = allocate(idf, [(sites["paris"], comirnaty, 10)], {comirnaty.pk: 10}, ["75"])
    assert first.pk == again.pk
    assert Stock.objects.get(site=sites["paris"]).delivered == 10


@pytest.mark.parametrize("quantity", [-1, 10**7])
def test_a_quantity_out_of_range_is_refused(sites, quantity):
    comirnaty = vaccine()
    with pytest.raises(InvalidInput):
        allocate(
            authority("ars.idf", "75"),
            [(sites["paris"], comirnaty, quantity)],
            {comirnaty.pk: 10**8},
            ["75"],
        )


def test_the_overview_counts_on_hand_committed_free_and_cover_in_few_queries(sites):
    today = timezone.localdate()
    paris, bobigny = sites["paris"], sites["bobigny"]
    # Paris: 40 received, 60 expected in ten days; a first-dose session tomorrow of
    # 2 lines x 6 slots (12 places, 24 doses), and a dose-2 session in 5 days of 30 places.
    receive(paris, 40)
    allocate(
        authority("ars.idf", "75"),
        [(paris, vaccine(), 60)],
        {vaccine().pk: 60},
        ["75"],
    )
    Delivery.objects.filter(allocation__isnull=False).update(expected_on=today + timedelta(days=10))
    open_session(paris, day=today + timedelta(days=1), lines=2)
    open_session(
        paris,
        day=today + timedelta(days=5),
        lines=5,
        start=time(9),
        end=time(10),
        dose_number=2,
    )
    vaccines = list(Vaccine.objects.order_by("name"))
    scope = Site.objects.filter(department__in=["75", "93"]).order_by("name")
    with CaptureQueriesContext(connection) as queries:
        rows = {
            row.site.name: row
            for row in supply_overview(sites=scope, today=today, vaccines=vaccines)
        }
    assert len(queries) == 5
    figures = rows["Paris 17"].vaccines[vaccine().pk]
    assert (figures.on_hand, figures.expected, figures.committed, figures.places) == (
        40,
        60,
        24,
        42,
    )
    assert rows["Paris 17"].free == 42
    # 12 places tomorrow leave 28 of 40; the 30 places on day 5 need 2 more than on hand,
    # and the expected doses come on day 10: short on day 5, covered 5 days.
    assert figures.cover_days == 5
    assert figures.short_on == today + timedelta(days=5)
    assert rows["Paris 17"].short == [figures]
    assert rows["Bobigny"].vaccines == {} and rows["Bobigny"].cover_days is None
    # The same doses expected by day 5 take the flag away.
    Delivery.objects.filter(allocation__isnull=False).update(expected_on=today + timedelta(days=4))
    rows = supply_overview(sites=scope, today=today, vaccines=vaccines)
    assert [row.short for row in rows] == [[], []]
    assert bobigny in [row.site for row in rows]
