"""Races for the last doses of a site, on a real database file (SQLite) or server (PostgreSQL).

Each session here is 3 slots x 2 lines x 2 doses = 12 doses.
"""

from datetime import time

import pytest
from django.db.models import F, Sum

from creneau.core.errors import DomainError, StockInsufficient
from creneau.scheduling.models import DayAvailability, Session, Slot
from creneau.scheduling.services import session_change_lines, session_close
from creneau.vaccines.models import Stock
from tests.concurrency.racers import race_processes, race_threads
from tests.factories import STAFF, deliver, make_site, open_session, tomorrow

pytestmark = pytest.mark.concurrency


def assert_ledger_matches_slots(site) -> Stock:
    stock = Stock.objects.get(site=site, vaccine__code="comirnaty")
    promised = (
        Slot.objects.filter(site=site, vaccine__code="comirnaty").aggregate(
            doses=Sum(F("capacity") * F("session__doses_per_place"))
        )["doses"]
        or 0
    )
    assert stock.committed == promised
    assert stock.committed + stock.given <= stock.delivered
    assert not Slot.objects.filter(booked__gt=F("capacity")).exists()
    for row in DayAvailability.objects.filter(site=site):
        free = Slot.objects.filter(
            site=site, date=row.date, dose_number=row.dose_number, booked__lt=F("capacity")
        ).aggregate(free=Sum(F("capacity") - F("booked")))["free"]
        assert row.free == (free or 0)
    return stock


def test_twenty_threads_racing_for_the_last_doses_only_those_covered_open(reference_committed):
    site = make_site()
    deliver(site, 50)  # room for 4 sessions of 12 doses, not 5

    def attempt(index):
        return open_session(site, start=time(8 + index % 10), end=time(8 + index % 10, 30))

    results = race_threads(20, attempt)
    opened = [r for r in results if isinstance(r, Session)]
    refused = [r for r in results if isinstance(r, StockInsufficient)]
    assert len(opened) == 4, results
    assert len(refused) == 16, results
    stock = assert_ledger_matches_slots(site)
    assert stock.committed == 48


def test_processes_racing_for_the_last_doses_never_over_promise(reference_committed):
    site = make_site()
    deliver(site, 100)  # 8 sessions of 12 doses
    day = tomorrow().isoformat()
    results = race_processes(
        6, "tests.concurrency.workers.open_sessions", lambda index: (site.pk, day, 4)
    )
    outcomes = [outcome for status, value in results for outcome in value if status == "ok"]
    assert all(status == "ok" for status, _ in results), results
    assert outcomes.count("opened") == 8
    assert outcomes.count("stock_insufficient") == 16
    assert assert_ledger_matches_slots(site).committed == 96


def test_changing_lines_and_closing_at_once_keep_the_ledger_exact(reference_committed):
    site = make_site()
    deliver(site, 200)
    sessions = [
        open_session(site, start=time(8 + i), end=time(8 + i, 30), lines=2) for i in range(4)
    ]

    def attempt(index):
        session = sessions[index % 4]
        if index % 3 == 0:
            return session_close(actor=STAFF, session_id=session.pk)
        return session_change_lines(actor=STAFF, session_id=session.pk, lines=1 + index % 5)

    results = race_threads(24, attempt)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    assert_ledger_matches_slots(site)
