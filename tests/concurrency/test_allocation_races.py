"""A regional allocation crossing a session opening at the same site, at the same
instant, many rounds (issue 18): the allocation raises `delivered` while the opening
promises doses with its conditional update. Whatever the order, every action ends done
or refused, the ledger equals its rows, nothing is promised beyond what is delivered or
confirmed (invariant 2), and each done action has its one audit event."""

from collections import Counter

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.geography.models import Department
from creneau.vaccines.models import Allocation, Delivery, Stock
from creneau.vaccines.services import AllocationLine, deliveries_allocate, delivery_record
from tests.concurrency.racers import race_threads
from tests.concurrency.test_booking_races import assert_invariants
from tests.concurrency.test_staff_action_races import (
    ROUNDS,
    Desk,
    assert_no_failure,
    retries,  # noqa: F401 (a fixture)
    session_form,
)
from tests.factories import make_site, tomorrow, vaccine

pytestmark = pytest.mark.concurrency


def test_an_allocation_racing_sessions_opened_at_the_same_site(reference_committed, retries):  # noqa: F811
    """Each round: 24 doses received; a manager opens five sessions of 12 doses each
    while the authority allocates 24 more to the site and 10 to another. Sessions open
    as far as the doses delivered or confirmed at that instant allow (two before the
    allocation, four after it), never beyond."""
    opener = Desk("opener", "site_manager")
    region = Desk("ars", "regional_authority")
    region.user.staff_profile.departments.set(Department.objects.filter(code__in=["75", "93"]))
    allocations = 0

    for round_number in range(ROUNDS):
        site = make_site()
        other = make_site(name="Bobigny", insee_code="93008")
        opener.cover(site)
        delivery_record(
            site=site,
            vaccine=vaccine(),
            quantity=24,
            expected_on=timezone.localdate(),
            received_at=timezone.now(),
        )
        day = tomorrow()

        def act(index, site=site, other=other, day=day, round_number=round_number):
            if index == 0:
                url = reverse("backoffice:sessions", args=[site.pk])
                for hour in range(8, 13):
                    opener.post("open", url, session_form(day, hour, weekly=False))
                return None
            return region.call(
                "allocate",
                deliveries_allocate,
                key=f"round-{round_number}",
                expected_on=tomorrow(2),
                quotas={vaccine().pk: 34},
                lines=[
                    AllocationLine(site_id=site.pk, vaccine_id=vaccine().pk, quantity=24),
                    AllocationLine(site_id=other.pk, vaccine_id=vaccine().pk, quantity=10),
                ],
                departments=["75", "93"],
            )

        assert_no_failure(race_threads(2, act), retries)
        allocations += 1
        stock = Stock.objects.get(site=site)
        live = Delivery.objects.filter(site=site).exclude(status="cancelled")
        assert stock.delivered == live.aggregate(total=Sum("quantity"))["total"] == 48
        assert stock.committed == 12 * site.sessions.count() <= stock.delivered
        assert 2 <= site.sessions.count() <= 4

    assert Allocation.objects.count() == allocations == region.done["allocate"]
    # Sessions refused for want of doses are said on the page, never a 500.
    assert opener.done["open"] + opener.refused["open"] == 5 * ROUNDS
    written = Counter(
        AuditEvent.objects.filter(actor=opener.user)
        .exclude(action="view")
        .values_list("action", "object_type")
    )
    assert written == Counter({("create", "scheduling.session"): opener.done["open"]})
    # One event per department touched by each allocation.
    assert (
        AuditEvent.objects.filter(actor=region.user, object_type="vaccines.allocation").count()
        == 2 * allocations
    )
    assert_invariants()
