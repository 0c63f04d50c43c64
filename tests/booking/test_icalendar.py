"""The calendar file (RFC 5545): whose appointment each event is, a reminder the day
before, and lines folded at 75 octets."""

from datetime import UTC, datetime

import pytest

from creneau.booking.icalendar import series_icalendar
from creneau.booking.selectors import series_appointments
from creneau.booking.services import booking_cancel, booking_confirm, hold_create
from tests.factories import person, two_dose_site, verified_contact

NOW = datetime(2021, 5, 1, 8, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8000/rendez-vous/ABCD-EFGH/"


@pytest.fixture
def site_and_session(reference):
    return two_dose_site(name="Centre de vaccination de la Porte de Champerret (Paris 17e)")


def book(session, **names):
    """Everyone at the same first slot, booked by the same contact."""
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    return booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person(**names))


def calendar(series) -> str:
    return series_icalendar(
        series=series, appointments=series_appointments(series=series), url=URL, now=NOW
    )


def unfolded(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def events(text: str) -> list[list[str]]:
    """Each VEVENT's lines, its alarm's included."""
    found, current = [], None
    for line in unfolded(text):
        if line == "BEGIN:VEVENT":
            current = []
        elif line == "END:VEVENT":
            found.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return found


def field(event: list[str], name: str) -> str:
    """The event's own property, not its alarm's."""
    return next(line for line in event if line.startswith(f"{name}:")).partition(":")[2]


def test_two_relatives_at_the_same_time_get_events_that_say_whose(site_and_session):
    _site, session = site_and_session
    jeanne = book(session, given_name="Jeanne", family_name="Martin").series
    paul = book(session, given_name="Paul", family_name="Martin").series

    jeanne_events, paul_events = events(calendar(jeanne)), events(calendar(paul))

    assert len(jeanne_events) == len(paul_events) == 2
    for mine, theirs in zip(jeanne_events, paul_events, strict=True):
        assert field(mine, "DTSTART") == field(theirs, "DTSTART")
        assert field(mine, "SUMMARY") != field(theirs, "SUMMARY")
        assert "Jeanne Martin" in field(mine, "SUMMARY")
        assert "Jeanne Martin" in field(mine, "DESCRIPTION")
        assert "Paul Martin" in field(theirs, "SUMMARY")
        assert "Paul Martin" in field(theirs, "DESCRIPTION")
    assert "Paul" not in calendar(jeanne)


def test_each_appointment_reminds_the_day_before(site_and_session):
    _site, session = site_and_session
    series = book(session, given_name="Jeanne", family_name="Martin").series

    for event in events(calendar(series)):
        # RFC 5545 3.6.6: the alarm sits inside its event, after the event's properties.
        begin = event.index("BEGIN:VALARM")
        alarm = event[begin + 1 : event.index("END:VALARM")]
        assert event.count("BEGIN:VALARM") == 1
        assert sorted(line.partition(":")[0] for line in alarm) == [
            "ACTION",
            "DESCRIPTION",
            "TRIGGER",
        ]
        assert "TRIGGER:-P1D" in alarm and "ACTION:DISPLAY" in alarm
        # The first slot of each session is at 09:00, Paris time (the site is in Paris).
        assert field(alarm, "DESCRIPTION").startswith("Demain à 09:00 : vaccination de Jeanne")


def test_a_cancelled_appointment_rings_no_reminder(site_and_session):
    _site, session = site_and_session
    series = book(session).series
    booking_cancel(series_id=series.pk)
    series.refresh_from_db()

    text = calendar(series)

    assert [field(event, "STATUS") for event in events(text)] == ["CANCELLED", "CANCELLED"]
    assert "VALARM" not in text


def test_long_accented_names_stay_folded_at_75_octets(site_and_session):
    _site, session = site_and_session
    name = {"given_name": "Marie-Françoise Éléonore", "family_name": "Dupont-Lefèvre de Saint-Éloi"}
    series = book(session, **name).series

    text = calendar(series)

    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert any(line.startswith(" ") for line in text.split("\r\n"))
    for event in events(text):
        assert "Marie-Françoise Éléonore Dupont-Lefèvre de Saint-Éloi" in field(event, "SUMMARY")
