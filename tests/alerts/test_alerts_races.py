"""Two workers matching the same places at once, on a real SQLite file and on PostgreSQL
(scripts/with-postgres.sh), threads and processes: each contact gets one message."""

import pytest

from creneau.alerts.models import AlertContact
from creneau.alerts.services import alerts_run
from tests.alerts.helpers import alerts_sent, janssen_site, open_places, subscribe
from tests.concurrency.racers import race_processes, race_threads

pytestmark = pytest.mark.concurrency

CONTACTS = 6


def run_once() -> int:
    """One worker's pass (also run in a child process): the messages it wrote."""
    return alerts_run().sent


def _opened_near_everyone() -> None:
    for number in range(1, CONTACTS + 1):
        subscribe(number, north_km=number / 2)
    open_places(janssen_site())


def _assert_one_message_each(sent_per_worker: list[int]) -> None:
    assert sum(sent_per_worker) == CONTACTS
    assert alerts_sent().count() == CONTACTS
    assert len({message.to for message in alerts_sent()}) == CONTACTS
    assert AlertContact.objects.filter(last_sent_at__isnull=False).count() == CONTACTS


def test_two_threads_matching_at_once_send_one_message_per_contact(reference_committed):
    _opened_near_everyone()
    results = race_threads(4, lambda _: run_once())
    assert all(isinstance(result, int) for result in results), results
    _assert_one_message_each(results)


def test_two_processes_matching_at_once_send_one_message_per_contact(reference_committed):
    _opened_near_everyone()
    results = race_processes(2, "tests.alerts.test_alerts_races.run_once", lambda _: ())
    _assert_one_message_each([sent for _, sent in results])
