from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError

from creneau.core.errors import (
    CapacityBelowBooked,
    InvalidInput,
    NotFound,
    SessionNotOpen,
    StockInsufficient,
)
from creneau.scheduling.models import DayAvailability, Session, Slot
from creneau.scheduling.selectors import session_get
from creneau.scheduling.services import (
    session_change_lines,
    session_close,
    session_open,
    sessions_close_elapsed,
    sessions_open_weekly,
)
from creneau.sites.models import Site
from creneau.vaccines.models import Stock
from tests.factories import STAFF, deliver, make_site, open_session, tomorrow, vaccine


def committed(site, code="comirnaty") -> int:
    return Stock.objects.get(site=site, vaccine=vaccine(code)).committed


def availability(session) -> DayAvailability:
    return DayAvailability.objects.get(
        site=session.site,
        vaccine=session.vaccine,
        dose_number=session.dose_number,
        date=session.date,
    )


def test_a_session_makes_its_slots_and_promises_both_doses_of_each_first_dose_place(reference):
    site = make_site()
    deliver(site, 100)
    session = open_session(site, start=time(9), end=time(10), lines=3, slot_minutes=10)
    slots = list(session.slots.all())
    assert len(slots) == 6
    assert {slot.capacity for slot in slots} == {3}
    paris = ZoneInfo("Europe/Paris")
    assert slots[0].start == datetime.combine(tomorrow(), time(9), tzinfo=paris)
    assert slots[-1].end == datetime.combine(tomorrow(), time(10), tzinfo=paris)
    assert committed(site) == 6 * 3 * 2
    assert availability(session).free == 18
    assert availability(session).first_free_start == slots[0].start
    assert availability(session).last_free_start == slots[-1].start


def test_a_second_dose_place_promises_no_more_doses_and_a_one_dose_vaccine_one(reference):
    site = make_site()
    deliver(site, 100)
    deliver(site, 100, code="janssen")
    open_session(site, dose_number=2, lines=5)
    assert committed(site) == 0
    open_session(site, code="janssen", lines=5)
    assert committed(site, "janssen") == 30


def test_opening_without_enough_doses_is_refused_with_the_figures(reference):
    site = make_site()
    deliver(site, 20)
    with pytest.raises(StockInsufficient) as caught:
        open_session(site, lines=2)  # 6 slots x 2 lines x 2 doses = 24
    assert "il faut 24 doses, il en reste 20" in caught.value.message
    assert not Session.objects.exists() and not Slot.objects.exists()
    assert committed(site) == 0


def test_opening_with_no_delivery_at_all_is_refused(reference):
    with pytest.raises(StockInsufficient):
        open_session(make_site(), lines=1)


def test_slots_are_in_the_sites_local_time(reference):
    site = make_site(insee_code="97411")
    deliver(site, 100)
    session = open_session(site, start=time(8), end=time(8, 30), lines=1)
    first = session.slots.order_by("start").first()
    assert first.start.astimezone(UTC).hour == 4  # Réunion is UTC+4 all year


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lines": 0}, "lignes"),
        ({"lines": 101}, "lignes"),
        ({"slot_minutes": 3}, "durée"),
        ({"start": time(10), "end": time(9)}, "finir après"),
        ({"start": time(9), "end": time(9, 5)}, "plus courte"),
        ({"dose_number": 3}, "pas de dose 3"),
        ({"day": tomorrow(-2)}, "passé"),
        ({"day": tomorrow(400)}, "plus d'un an"),
    ],
)
def test_a_malformed_session_is_refused_and_changes_nothing(reference, changes, message):
    site = make_site()
    deliver(site, 1000)
    with pytest.raises(InvalidInput) as caught:
        open_session(site, **changes)
    assert message in caught.value.message
    assert not Session.objects.exists() and committed(site) == 0


def test_a_closed_site_cannot_open_sessions(reference):
    site = make_site(status=Site.Status.CLOSED)
    deliver(site, 1000)
    with pytest.raises(InvalidInput):
        open_session(site)


def test_more_lines_promise_more_doses_fewer_lines_return_them(reference):
    site = make_site()
    deliver(site, 100)
    session = open_session(site, lines=2)
    session_change_lines(actor=STAFF, session_id=session.pk, lines=4)
    assert committed(site) == 6 * 4 * 2
    assert availability(session).free == 24
    session_change_lines(actor=STAFF, session_id=session.pk, lines=1)
    assert committed(site) == 6 * 1 * 2
    assert set(session.slots.values_list("capacity", flat=True)) == {1}


def test_more_lines_than_the_stock_covers_is_refused(reference):
    site = make_site()
    deliver(site, 30)
    session = open_session(site, lines=2)
    with pytest.raises(StockInsufficient):
        session_change_lines(actor=STAFF, session_id=session.pk, lines=3)
    assert committed(site) == 24
    assert set(session.slots.values_list("capacity", flat=True)) == {2}


def test_fewer_lines_than_places_booked_is_refused(reference):
    site = make_site()
    deliver(site, 100)
    session = open_session(site, lines=3)
    Slot.objects.filter(pk=session.slots.first().pk).update(booked=3)
    with pytest.raises(CapacityBelowBooked):
        session_change_lines(actor=STAFF, session_id=session.pk, lines=2)
    assert committed(site) == 36


def test_closing_returns_the_free_places_doses_and_keeps_the_booked(reference):
    site = make_site()
    deliver(site, 100)
    session = open_session(site, lines=2)
    Slot.objects.filter(pk=session.slots.first().pk).update(booked=1)
    assert session_close(actor=STAFF, session_id=session.pk) == 11 * 2
    assert committed(site) == 2
    assert availability(session).free == 0
    assert availability(session).first_free_start is None
    with pytest.raises(SessionNotOpen):
        session_close(actor=STAFF, session_id=session.pk)
    with pytest.raises(SessionNotOpen):
        session_change_lines(actor=STAFF, session_id=session.pk, lines=3)


def test_the_database_refuses_a_slot_booked_beyond_capacity(reference):
    site = make_site()
    deliver(site, 100)
    slot = open_session(site, lines=1).slots.first()
    with pytest.raises(IntegrityError):
        Slot.objects.filter(pk=slot.pk).update(booked=2)


def test_a_weekly_pattern_opens_every_chosen_weekday_all_or_nothing(reference):
    site = make_site()
    deliver(site, 1000)
    start = tomorrow()
    sessions = sessions_open_weekly(
        site=site,
        vaccine=vaccine(),
        date_from=start,
        date_to=start + timedelta(days=13),
        weekdays={0, 2, 4},
        start_time=time(9),
        end_time=time(10),
        lines=2,
    )
    assert len(sessions) == 6
    assert {s.date.weekday() for s in sessions} == {0, 2, 4}
    assert committed(site) == 6 * 6 * 2 * 2
    assert DayAvailability.objects.filter(site=site, free=12).count() == 6
    with pytest.raises(StockInsufficient):
        sessions_open_weekly(
            site=site,
            vaccine=vaccine(),
            date_from=start,
            date_to=start + timedelta(days=60),
            weekdays={0, 1, 2, 3, 4, 5, 6},
            start_time=time(14),
            end_time=time(18),
            lines=4,
        )
    assert Session.objects.count() == 6 and committed(site) == 144
    with pytest.raises(InvalidInput):
        sessions_open_weekly(
            site=site,
            vaccine=vaccine(),
            date_from=start,
            date_to=start,
            weekdays={(start.weekday() + 1) % 7},
            start_time=time(9),
            end_time=time(10),
            lines=1,
        )


def test_sessions_that_are_over_return_their_unused_doses_and_cannot_grow(reference):
    site = make_site()
    deliver(site, 12)
    session = open_session(site, lines=1)  # 6 places x 2 doses
    booked = session.slots.order_by("start").first()
    Slot.objects.filter(pk=booked.pk).update(booked=1)
    after = session.slots.order_by("-end").first().end + timedelta(minutes=1)
    with pytest.raises(SessionNotOpen):
        session_change_lines(actor=STAFF, session_id=session.pk, lines=2, now=after)
    during = booked.end
    assert sessions_close_elapsed(now=during) == 0
    assert sessions_close_elapsed(now=after) == 5 * 2
    assert committed(site) == 2
    assert sessions_close_elapsed(now=after) == 0


@pytest.mark.parametrize(
    ("day", "start", "end", "slots"),
    [
        ("2027-03-28", time(1), time(4), 4),  # spring forward: 2 real hours
        ("2027-10-31", time(1), time(4), 8),  # fall back: 4 real hours
    ],
)
def test_daylight_saving_days_make_slots_of_the_right_length(reference, day, start, end, slots):
    site = make_site()
    deliver(site, 1000)
    session = session_open(
        site=site,
        vaccine=vaccine(),
        day=date.fromisoformat(day),
        start_time=start,
        end_time=end,
        lines=1,
        slot_minutes=30,
        now=datetime(2027, 1, 1, tzinfo=UTC),
    )
    lengths = {slot.end - slot.start for slot in session.slots.all()}
    assert lengths == {timedelta(minutes=30)}
    assert session.slots.count() == slots


def test_a_session_is_found_at_its_own_site_only_and_a_foreign_one_as_a_missing_one(reference):
    site, other = make_site(), make_site(name="Autre centre")
    deliver(site, 100)
    deliver(other, 100)
    session, foreign = open_session(site), open_session(other)
    assert session_get(site_id=site.pk, session_id=session.pk) == session
    missing = foreign.pk + 1000
    refusals = []
    for session_id in (foreign.pk, missing):
        with pytest.raises(NotFound) as refused:
            session_get(site_id=site.pk, session_id=session_id)
        refusals.append(refused.value.message.replace(str(session_id), "…"))
    assert refusals == ["Session introuvable : ….", "Session introuvable : …."]
