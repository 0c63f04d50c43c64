"""Workers racing over the same outbox, on a real SQLite file and on PostgreSQL: every
message is sent exactly once."""

import time
from collections import Counter

import pytest

from creneau.outreach import sms
from creneau.outreach.models import Notification
from creneau.outreach.services import outbox_send
from tests.concurrency.racers import race_processes, race_threads

pytestmark = pytest.mark.concurrency

MESSAGES = 200
# A row stuck in "sending" (two workers took it) ends the race as a failure, not a hang.
DEADLINE_SECONDS = 30


def pending_messages() -> set[str]:
    """200 pending rows, one address each: half SMS, half e-mail."""
    addresses = set()
    for number in range(MESSAGES):
        email = number % 2
        to = f"personne{number}@example.org" if email else f"+336{number:08d}"
        Notification.objects.create(
            channel="email" if email else "sms",
            to=to,
            kind=Notification.Kind.VERIFICATION_CODE,
            event=f"verification:{number}",
            parameters={"minutes": 10},
            derived={"code": ["verification_code", f"verification-{number}"]},
        )
        addresses.add(to)
    return addresses


def assert_each_sent_once(addresses: set[str], sent_to: list[str]) -> None:
    assert Counter(sent_to) == Counter(addresses)  # none twice, none missing
    assert Notification.objects.filter(status="sent", attempts=1).count() == MESSAGES


def test_eight_threads_sending_the_same_200_messages_send_each_once(transactional_db, sms_outbox):
    from django.core import mail

    addresses = pending_messages()

    def worker(_index: int) -> int:
        batches = 0
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (
            Notification.objects.filter(status__in=["pending", "sending"]).exists()
            and time.monotonic() < deadline
        ):
            outbox_send(limit=20)
            batches += 1
        return batches

    started = time.perf_counter()
    results = race_threads(8, worker)
    elapsed = time.perf_counter() - started

    assert all(isinstance(r, int) for r in results), results
    assert_each_sent_once(addresses, [s.to for s in sms.outbox] + [m.to[0] for m in mail.outbox])
    print(f"\n8 threads, {MESSAGES} messages: {elapsed:.2f} s")


def test_four_processes_sending_the_same_200_messages_send_each_once(transactional_db):
    addresses = pending_messages()

    started = time.perf_counter()
    results = race_processes(
        4, "tests.outreach.backends.send_until_done", lambda i: (20, DEADLINE_SECONDS)
    )
    elapsed = time.perf_counter() - started

    assert all(status == "ok" for status, _ in results), results
    sent_to = [address for _, addresses_sent in results for address in addresses_sent]
    assert_each_sent_once(addresses, sent_to)
    assert sum(1 for _, sent in results if sent) > 1  # they really shared the work
    print(f"\n4 processes, {MESSAGES} messages: {elapsed:.2f} s")
