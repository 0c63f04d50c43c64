"""Many people accepting the same few leftover doses at once, on a real SQLite file and on
PostgreSQL (scripts/with-postgres.sh), with threads and with processes: exactly the
doses declared are booked, never more; a declaration cancelled in the middle of it; an
acceptance after the offer's time."""

from datetime import datetime, time, timedelta

import pytest
from django.db.models import F

from creneau.audit.models import AuditEvent
from creneau.booking.models import Series
from creneau.core.errors import DomainError
from creneau.scheduling.models import Session, Slot
from creneau.vaccines.models import Stock
from creneau.waitlist.models import Leftover, Offer
from creneau.waitlist.services import leftover_cancel, offer_accept
from tests.concurrency.racers import race_processes, race_threads
from tests.concurrency.test_booking_races import assert_invariants
from tests.factories import STAFF, open_session
from tests.waitlist.helpers import NOW, declare, join, leftover_site

pytestmark = pytest.mark.concurrency


def _declared(*, people: int, doses: int, dose2_end: time = time(10, 0)) -> Leftover:
    """A two-dose product (the invariants' recount expects two-dose courses), with
    second-dose places at the site in the interval: from 9:00 to `dose2_end`, five every
    10 minutes."""
    site = leftover_site(code="comirnaty", doses=200)
    open_session(site, day=NOW.date() + timedelta(days=35), dose_number=2, lines=5, end=dose2_end)
    for number in range(1, people + 1):
        join(number, north_km=number / 10)
    return declare(site, doses=doses, code="comirnaty")


def accept(offer_id: int, now: str) -> str:
    """One person's click (also run in a child process): what they were answered."""
    try:
        answer = offer_accept(offer_id=offer_id, now=datetime.fromisoformat(now))
    except DomainError as error:
        return type(error).__name__
    return "accepted" if answer.accepted else "gone"


def _assert_never_more_than_declared(leftover: Leftover) -> None:
    leftover.refresh_from_db()
    accepted = Offer.objects.filter(leftover=leftover, status=Offer.Status.ACCEPTED)
    assert leftover.accepted == accepted.count() <= leftover.doses
    assert Series.objects.filter(status="active").count() == accepted.count()
    assert not Slot.objects.filter(booked__gt=F("capacity")).exists()
    booked = sum(Slot.objects.filter(session=leftover.session).values_list("booked", flat=True))
    assert booked == accepted.count()
    assert not Offer.objects.filter(leftover=leftover, status=Offer.Status.OFFERED).exclude(
        answered_at=None
    )
    assert_invariants()


def test_many_threads_accepting_few_doses_book_exactly_the_doses(reference_committed):
    leftover = _declared(people=12, doses=3)
    offers = list(leftover.offers.values_list("pk", flat=True))
    assert len(offers) == 9
    now = (NOW + timedelta(minutes=2)).isoformat()
    results = race_threads(len(offers), lambda i: accept(offers[i], now))
    assert sorted(results) == ["accepted"] * 3 + ["gone"] * 6
    _assert_never_more_than_declared(leftover)


def test_processes_accepting_few_doses_of_a_two_dose_product_book_exactly_the_doses(
    reference_committed,
):
    leftover = _declared(people=12, doses=2)
    offers = list(leftover.offers.values_list("pk", flat=True))
    assert len(offers) == 6
    now = (NOW + timedelta(minutes=2)).isoformat()
    results = race_processes(
        len(offers), "tests.waitlist.test_waitlist_races.accept", lambda i: (offers[i], now)
    )
    assert sorted(outcome for _, outcome in results) == ["accepted"] * 2 + ["gone"] * 4
    _assert_never_more_than_declared(leftover)
    for series in Series.objects.all():
        assert sorted(series.appointments.values_list("dose_number", flat=True)) == [1, 2]


def test_racing_for_a_two_dose_leftover_with_fewer_second_doses_never_leaves_a_dose_1_alone(
    reference_committed,
):
    # Five second-dose places in the interval for eight leftover places.
    leftover = _declared(people=30, doses=8, dose2_end=time(9, 10))
    offers = list(leftover.offers.values_list("pk", flat=True))
    assert len(offers) == 15
    now = (NOW + timedelta(minutes=2)).isoformat()
    results = race_threads(len(offers), lambda i: accept(offers[i], now))
    assert sorted(results) == ["accepted"] * 5 + ["gone"] * 10
    _assert_never_more_than_declared(leftover)
    for series in Series.objects.all():
        assert sorted(series.appointments.values_list("dose_number", flat=True)) == [1, 2]


def test_a_declaration_cancelled_while_people_accept(reference_committed):
    leftover = _declared(people=12, doses=3)
    offers = list(leftover.offers.values_list("pk", flat=True))
    now = NOW + timedelta(minutes=2)

    def act(index: int) -> str:
        if index == len(offers):
            leftover_cancel(actor=STAFF, site_id=leftover.site_id, leftover_id=leftover.pk, now=now)
            return "cancelled"
        return accept(offers[index], now.isoformat())

    results = race_threads(len(offers) + 1, act)
    assert "cancelled" in results
    accepted = results.count("accepted")
    assert accepted <= 3
    # Each was answered: a place, "gone", or (the cancellation closed their offer first)
    # "already answered".
    assert set(results) <= {"accepted", "gone", "cancelled", "OfferAnswered"}
    leftover.refresh_from_db()
    assert leftover.status == Leftover.Status.CANCELLED
    assert Session.objects.get(pk=leftover.session_id).status == Session.Status.CLOSED
    # The closed session keeps the places booked and gives the other doses back (two a
    # place: dose 1 and the dose 2 it promises).
    stock = Stock.objects.get(site_id=leftover.site_id, vaccine_id=leftover.vaccine_id)
    assert stock.committed == 2 * accepted
    assert AuditEvent.objects.filter(object_type="waitlist.leftover", action="change").count() == 1
    _assert_never_more_than_declared(leftover)


def test_accepting_after_the_twenty_minutes_books_nothing_even_all_at_once(reference_committed):
    leftover = _declared(people=6, doses=2)
    offers = list(leftover.offers.values_list("pk", flat=True))
    late = (NOW + timedelta(minutes=20, seconds=1)).isoformat()
    results = race_threads(len(offers), lambda i: accept(offers[i], late))
    assert results == ["OfferExpired"] * len(offers)
    assert not Series.objects.exists()
    _assert_never_more_than_declared(leftover)


def test_the_same_link_clicked_ten_times_at_once_books_once(reference_committed):
    leftover = _declared(people=1, doses=1)
    (offer,) = leftover.offers.values_list("pk", flat=True)
    now = (NOW + timedelta(minutes=2)).isoformat()
    results = race_threads(10, lambda i: accept(offer, now))
    assert sorted(results) == ["OfferAnswered"] * 9 + ["accepted"]
    _assert_never_more_than_declared(leftover)


def test_nurses_declaring_the_last_doses_at_once_never_promise_more_than_the_stock(
    reference_committed,
):
    site = leftover_site(code="janssen", doses=3)
    join(1)

    def act(index: int) -> str:
        try:
            declare(site, doses=2, code="janssen")
        except DomainError as error:
            return type(error).__name__
        return "declared"

    results = race_threads(4, act)
    assert sorted(results) == ["StockInsufficient"] * 3 + ["declared"]
    stock = Stock.objects.get(site=site, vaccine__code="janssen")
    assert stock.committed == 2 <= stock.delivered
    # Each declaration made is one audit event, each refusal none.
    assert Leftover.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="waitlist.leftover").count() == 1
