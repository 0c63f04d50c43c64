"""Refreshes of the statistics at once (the worker's timer and an operator's rebuild, two
timers overlapping): each day rewritten, the running sums of later days moved, and none
counted twice (the refreshes run one at a time: an advisory lock on PostgreSQL, SQLite's
single writer)."""

import datetime as dt

import pytest
from django.utils import timezone

from creneau.stats.models import VaccinationDay
from creneau.stats.services import stats_refresh
from creneau.vaccines.services import delivery_record
from tests.concurrency.racers import race_threads
from tests.factories import make_site, vaccine

FIRST = dt.date(2027, 3, 1)
DAYS = 6


@pytest.mark.django_db(transaction=True)
def test_refreshes_of_overlapping_days_at_once_leave_the_running_sums_right(reference_committed):
    site = make_site()
    for n in range(DAYS):
        day = FIRST + dt.timedelta(days=n)
        delivery_record(
            site=site,
            vaccine=vaccine(),
            quantity=10 * (n + 1),
            expected_on=day,
            received_at=timezone.make_aware(dt.datetime.combine(day, dt.time(10))),
        )
    # Each day refreshed three times by as many racers, in every order at once.
    days = [FIRST + dt.timedelta(days=n % DAYS) for n in range(3 * DAYS)]
    results = race_threads(len(days), lambda i: stats_refresh(day=days[-1 - i]))
    assert not [r for r in results if isinstance(r, Exception)], results

    rows = list(VaccinationDay.objects.order_by("day"))
    assert [r.delivered for r in rows] == [10 * (n + 1) for n in range(DAYS)]
    assert [r.cum_delivered for r in rows] == [5 * (n + 1) * (n + 2) for n in range(DAYS)]
