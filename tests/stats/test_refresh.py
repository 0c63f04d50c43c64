"""The summary tables equal a recount from the rows: kept day by day as the worker does
(today and yesterday, every evening), and rebuilt at once by `manage.py stats_rebuild`,
after a random campaign of bookings, moves, cancellations, deliveries, doses, withdrawn
doses and no-shows in two time zones."""

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from creneau.stats.models import AppointmentDay, SiteDay, VaccinationDay
from creneau.stats.services import stats_refresh, stats_refresh_due
from creneau.vaccines.services import delivery_record
from tests.factories import make_site, vaccine
from tests.stats.campaign import COMIRNATY_INTERVAL, DOSE1_DAYS, FIRST_DAY, Campaign
from tests.stats.recount import (
    appointments_recounted,
    appointments_tabled,
    sites_recounted,
    sites_tabled,
    vaccinations_recounted,
    vaccinations_tabled,
)

# The dose-1 weeks, then the dose-2 weeks; each run ends with a quiet day, whose refresh
# of "yesterday" takes Réunion's last evening in.
PLAYED = [FIRST_DAY + dt.timedelta(days=n) for n in range(DOSE1_DAYS + 1)]
PLAYED += [day + dt.timedelta(days=COMIRNATY_INTERVAL) for day in PLAYED[1:]]
QUIET = {PLAYED[DOSE1_DAYS], PLAYED[-1]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tables_kept_day_by_day_and_rebuilt_equal_a_recount(
    seed, reference, clock, django_user_model
):
    campaign = Campaign(
        clock=clock, nurse=django_user_model.objects.create_user("nurse"), rng=random.Random(seed)
    )
    campaign.prepare()
    for day in PLAYED:
        if day not in QUIET:
            campaign.play(day)
        stats_refresh_due(now=clock.at(day, 23, 50))

    days = set(PLAYED)
    recounted = appointments_recounted(days)
    assert sum(c["booked"] for c in recounted.values()) > 20
    assert sum(c["given"] for c in recounted.values()) > 10
    assert sum(c["cancelled"] for c in recounted.values()) > 0
    assert sum(c["noshows"] for c in recounted.values()) > 0
    assert appointments_tabled(days) == recounted
    assert vaccinations_tabled(days) == vaccinations_recounted(days)
    assert sites_tabled(days) == sites_recounted(days)

    # A rebuild from nothing gives the same, and fills the days between the two runs.
    AppointmentDay.objects.all().delete()
    VaccinationDay.objects.all().delete()
    SiteDay.objects.all().delete()
    first, last = FIRST_DAY - dt.timedelta(days=1), PLAYED[-1] + dt.timedelta(days=1)
    call_command("stats_rebuild", "--from", first.isoformat(), "--to", last.isoformat())
    every_day = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
    assert appointments_tabled(every_day) == appointments_recounted(every_day)
    assert vaccinations_tabled(every_day) == vaccinations_recounted(every_day)
    assert sites_tabled(every_day) == sites_recounted(every_day)


def test_an_earlier_day_refreshed_moves_the_running_sums_after_it(reference, clock):
    """A day rewritten before later ones (a rebuild of the past) keeps their sums right."""
    site = make_site()
    day = dt.date(2027, 3, 1)
    for offset in (0, 5):
        clock.at(day + dt.timedelta(days=offset), 10)
        delivery_record(
            site=site,
            vaccine=vaccine(),
            quantity=50,
            expected_on=clock.now.date(),
            received_at=clock.now,
        )
    for offset in (0, 5):
        stats_refresh(day=day + dt.timedelta(days=offset))
    later = VaccinationDay.objects.get(day=day + dt.timedelta(days=5))
    assert (later.delivered, later.cum_delivered) == (50, 100)

    clock.at(day + dt.timedelta(days=2), 10)
    delivery_record(
        site=site,
        vaccine=vaccine(),
        quantity=30,
        expected_on=clock.now.date(),
        received_at=clock.now,
    )
    stats_refresh(day=day + dt.timedelta(days=2))
    later.refresh_from_db()
    assert (later.delivered, later.cum_delivered) == (50, 130)
    assert later.in_stock == 130


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2027-02-30", "2027-03-01", "not a day"),
        ("2027-03-01", "01/03/2027", "not a day"),
        ("2027-03-02", "2027-03-01", "--to is before --from"),
        ("1990-01-01", "2027-03-01", "more than"),
    ],
)
def test_a_rebuild_with_a_wrong_range_says_why_and_writes_nothing(db, first, last, message):
    with pytest.raises(CommandError, match=message):
        call_command("stats_rebuild", "--from", first, "--to", last)
    assert not VaccinationDay.objects.exists() and not AppointmentDay.objects.exists()
