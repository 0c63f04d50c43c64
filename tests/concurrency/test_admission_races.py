"""The abuse limits under concurrent requests: counters shared by processes count every
hit, and one client racing for many holds still keeps two."""

import pytest
from django.db.models import Sum

from creneau.admission.counters import counter_add
from creneau.booking.models import Hold
from creneau.booking.services import Holder, hold_create
from creneau.scheduling.models import Slot
from tests.concurrency.racers import race_processes, race_threads
from tests.factories import two_dose_site

pytestmark = pytest.mark.concurrency


def test_processes_counting_at_once_lose_no_hit(transactional_db):
    results = race_processes(
        6, "tests.concurrency.workers.count_hits", lambda index: ("shared", 40)
    )
    assert all(status == "ok" for status, _ in results), results
    assert counter_add(key="shared", window=10**9, amount=0).hits == 240


def test_one_client_racing_for_many_holds_keeps_two_and_leaks_no_place(reference_committed):
    _site, session = two_dose_site(lines=10)
    slot_ids = list(session.slots.order_by("start").values_list("pk", flat=True))
    holder = Holder(client="session:racer", network="10.0.0.1")
    results = race_threads(len(slot_ids), lambda i: hold_create(slot_id=slot_ids[i], holder=holder))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Hold.objects.filter(client="session:racer").count() == 2
    # Every place still taken is a live hold's: the holds given back gave their places back.
    held = Hold.objects.count()
    first_dose = Slot.objects.filter(pk__in=slot_ids).aggregate(total=Sum("booked"))["total"]
    assert first_dose == held


def test_one_network_racing_past_its_share_gets_no_more_than_it(reference_committed, settings):
    settings.HOLDS_PER_ADDRESS = 3
    _site, session = two_dose_site(lines=10)
    slot_ids = list(session.slots.order_by("start").values_list("pk", flat=True))
    results = race_threads(
        len(slot_ids),
        lambda i: hold_create(
            slot_id=slot_ids[i], holder=Holder(client=f"session:{i}", network="10.0.0.2")
        ),
    )
    refused = [result for result in results if isinstance(result, Exception)]
    assert {type(error).__name__ for error in refused} == {"TooManyRequests"}
    assert Hold.objects.filter(address="10.0.0.2").count() == 3
    assert len(refused) == len(slot_ids) - 3


def _tickets_drawn_by_processes(redis_url: str) -> list[int]:
    results = race_processes(
        6, "tests.concurrency.workers.draw_tickets", lambda index: (20, redis_url)
    )
    assert all(status == "ok" for status, _ in results), results
    return sorted(number for _, numbers in results for number in numbers)


def test_app_processes_share_one_queue_in_the_database(transactional_db):
    assert _tickets_drawn_by_processes("") == list(range(1, 121))


def test_app_processes_share_one_queue_in_redis(transactional_db, redis_up):
    assert _tickets_drawn_by_processes(redis_up.url) == list(range(1, 121))
