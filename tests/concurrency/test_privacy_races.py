"""Erasures and the retention purge crossing the booking path, with really concurrent
transactions (threads, each its own connection), on SQLite and PostgreSQL: every call
ends in success or a domain error, the invariants hold, and nothing an active course
needs is erased."""

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.addresses import contact_address_index
from creneau.booking.models import Appointment, Person, Series
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    cancellation_create,
    hold_create,
)
from creneau.core.actor import Actor
from creneau.core.errors import DomainError
from creneau.privacy.services import person_erase, retention_purge
from tests.concurrency.racers import race_threads
from tests.concurrency.test_booking_races import assert_invariants
from tests.factories import person, two_dose_site, verified_contact

_numbers = itertools.count(1)


def book(session, *, phone: str | None = None, given_name: str | None = None) -> Series:
    number = next(_numbers)
    slot = session.slots.filter(booked__lt=F("capacity")).order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact(phone or f"+3361{number:07d}"),
        person=person(given_name=given_name or f"Personne {number}"),
    ).series


def outcomes(results: list) -> list:
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)
    ]
    assert not unexpected, unexpected
    return results


def test_agents_erasing_callers_while_the_site_cancels_their_session(reference_committed):
    """Each course ends cancelled once (by the erasure or by the site), each erasure
    that succeeded left its one event, and the places and doses add up."""
    site, session = two_dose_site(lines=4)
    courses = [book(session) for _ in range(6)]
    agent = Actor(user=get_user_model().objects.create_user("agent"))
    manager = Actor(user=get_user_model().objects.create_user("manager"))

    def act(index: int):
        if index == len(courses):
            return cancellation_create(
                actor=manager,
                site_id=site.pk,
                scope="session",
                session_id=session.pk,
                reason="Panne.",
            )
        return person_erase(series_id=courses[index].pk, actor=agent)

    results = outcomes(race_threads(len(courses) + 1, act))
    erased = [r for r in results[:-1] if isinstance(r, dict)]
    assert AuditEvent.objects.filter(object_type="booking.person").count() == len(erased)
    assert Person.objects.count() == len(courses) - len(erased)
    assert not Series.objects.filter(status="active").exists()
    assert not Appointment.objects.filter(status="booked").exists()
    assert_invariants()


def test_the_purge_crossing_a_new_booking_of_the_same_person_keeps_the_new_course(
    reference_committed,
):
    """A person whose course ended months ago books again (their contact verified a
    minute ago) while the purge erases them: either the purge went first (the person is
    made anew, the contact, just verified, was kept) or the booking did (the purge,
    reading its rule again under the contact's lock, keeps them). Never an error, never
    an active course without its person."""
    long_ago = timezone.now() - timedelta(days=100)
    for round_ in range(3):
        _site, session = two_dose_site(lines=4, name=f"Centre {round_}")
        phone = f"+336990000{round_:02d}"
        old = book(session, phone=phone, given_name="Revient")
        booking_cancel(series_id=old.pk)
        Person.objects.filter(pk=old.person_id).update(created_at=long_ago)
        Series.objects.filter(pk=old.pk).update(created_at=long_ago, updated_at=long_ago)
        Appointment.objects.filter(series=old).update(updated_at=long_ago)
        contact = verified_contact(phone)
        slot = session.slots.order_by("start").last()
        hold = hold_create(slot_id=slot.pk).hold

        def act(index: int, hold=hold, contact=contact):
            if index == 0:
                return retention_purge(audit=False)
            return booking_confirm(
                hold_id=hold.pk, contact=contact, person=person(given_name="Revient")
            )

        outcomes(race_threads(2, act))
        # By the contact's blind index: names and addresses are encrypted at rest.
        active = Series.objects.select_related("person__contact").get(
            status="active", contact__address_index=contact_address_index(phone)
        )
        assert (active.person.contact.address, active.person.given_name) == (phone, "Revient")
        booking_cancel(series_id=active.pk)
    assert_invariants()


def test_the_same_erasure_sent_twice_at_once_erases_once(reference_committed):
    """A double click, two tabs: one erasure, the other a "not found", one event."""
    _site, session = two_dose_site(lines=4)
    for _ in range(3):
        series = book(session)
        results = outcomes(race_threads(2, lambda _i, pk=series.pk: person_erase(series_id=pk)))
        assert sorted(type(r).__name__ for r in results) == ["NotFound", "dict"]
    assert AuditEvent.objects.filter(object_type="booking.person").count() == 3
    assert_invariants()
