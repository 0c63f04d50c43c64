"""Cancelling a session, a day or a site in one action, and the one-click rebooking link
in the message: every course accounted for, dose 2 never lost, stock exact."""

import re
import time as time_module
from datetime import time, timedelta

import pytest
from django.core import signing

from creneau.booking import tokens
from creneau.booking.models import Appointment, Cancellation, CancellationItem, Series
from creneau.booking.selectors import cancellation_list, rebook_item_get, rebook_offers
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_rebook,
    cancellation_create,
    hold_create,
)
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput, NotFound
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Session, Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Stock
from tests.factories import (
    LOT,
    STAFF,
    at,
    open_session,
    person,
    tomorrow,
    two_dose_site,
    verified_contact,
)

Scope = Cancellation.Scope
DAY = tomorrow()


def book(session, name: str, phone: str = "+33612345678", now=None):
    slot = session.slots.filter(booked__lt=2).order_by("start").first()
    hold = hold_create(slot_id=slot.pk, now=now).hold
    return booking_confirm(
        hold_id=hold.pk, contact=verified_contact(phone), person=person(given_name=name), now=now
    )


@pytest.fixture
def site(reference):
    """A site with two first-dose sessions tomorrow (morning and afternoon) and a
    first-dose session the day after, its dose-2 sessions six weeks on."""
    site, _morning = two_dose_site(name="Wagram", dose1_day=DAY, lines=2)
    open_session(site, day=DAY, start=time(14), end=time(15))
    open_session(site, day=DAY + timedelta(days=1))
    return site


def ledger(site) -> tuple[int, int, int]:
    stock = Stock.objects.get(site=site)
    return stock.delivered, stock.committed, stock.given


def promised(site) -> int:
    """What open capacity promises, plus what booked or given places still promise."""
    return sum(
        slot.capacity * slot.session.doses_per_place
        for slot in Slot.objects.select_related("session").filter(site=site)
    )


def rebook_link(message: Notification) -> str:
    return re.search(
        r"/reprendre/ouvrir/#cle=(\S+)", notification_render(notification=message).body
    )[1]


def test_cancelling_a_day_cancels_every_course_and_tells_each_with_a_link(site):
    morning, afternoon = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time")
    booked = [book(morning, "Jeanne"), book(morning, "Paul"), book(afternoon, "Ana")]
    other_day = book(Session.objects.get(date=DAY + timedelta(days=1)), "Marc")

    cancellation = cancellation_create(
        actor=STAFF, site_id=site.pk, scope=Scope.DAY, day=DAY, reason="Panne du réfrigérateur."
    )

    assert (cancellation.sessions, cancellation.courses, cancellation.appointments) == (2, 3, 6)
    assert cancellation.notifications == 3
    assert set(
        Series.objects.filter(pk__in=[b.series.pk for b in booked]).values_list("status", flat=True)
    ) == {"cancelled"}
    assert Series.objects.get(pk=other_day.series.pk).status == "active"
    assert set(Session.objects.filter(date=DAY).values_list("status", flat=True)) == {"closed"}
    messages = Notification.objects.filter(kind="booking_cancelled")
    assert messages.count() == 3
    for message in messages:
        assert "Panne du réfrigérateur." in notification_render(notification=message).body
        assert "Reprenez rendez-vous en un clic" in notification_render(notification=message).body
        assert rebook_item_get(token=rebook_link(message)).cancellation == cancellation
    # The free places' doses went back; the cancelled places left with their session.
    assert ledger(site)[1] == promised(site)


def test_the_person_rebooks_in_one_click_and_a_second_click_books_nothing_more(site):
    morning = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time").first()
    old = book(morning, "Jeanne").series
    cancellation_create(
        actor=STAFF, site_id=site.pk, scope=Scope.SESSION, session_id=morning.pk, reason="Grève."
    )
    item = rebook_item_get(token=rebook_link(Notification.objects.get(kind="booking_cancelled")))

    offers = rebook_offers(item=item).offers
    assert offers and offers[0].site == site  # the same site still has an afternoon
    slot_id = offers[0].slots[0].pk
    assert Slot.objects.get(pk=slot_id).session_id != morning.pk
    result = booking_rebook(item_id=item.pk, slot_id=slot_id)
    again = booking_rebook(item_id=item.pk, slot_id=slot_id)

    assert result.created and again.series == result.series
    new = result.series
    assert new.pk != old.pk and new.person == old.person and new.contact == old.contact
    assert Series.objects.filter(status="active").count() == 1
    assert Appointment.objects.filter(series=new, status="booked").count() == 2
    assert Notification.objects.filter(kind="booking_confirmed").count() == 2
    [listed] = cancellation_list(site_id=site.pk)
    assert listed.rebooked == 1 and listed.courses == 1


def test_a_course_whose_first_dose_was_given_keeps_its_dose_2(site, django_user_model):
    """The dose-2 session is cancelled six weeks later: the person keeps their course
    and gets a new second-dose date, never a lost second dose."""
    morning = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time").first()
    booked = book(morning, "Jeanne", now=at(DAY, 7))
    dose1, dose2 = sorted(booked.appointments, key=lambda a: a.dose_number)
    nurse = django_user_model.objects.create_user(username="nurse")
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    before = ledger(site)

    cancellation = cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Scope.SESSION,
        session_id=dose2.slot.session_id,
        reason="Livraison retardée.",
    )

    series = Series.objects.get(pk=booked.series.pk)
    assert series.status == "active" and cancellation.courses == 1
    assert Appointment.objects.get(pk=dose1.pk).status == "fulfilled"
    assert Appointment.objects.get(pk=dose2.pk).status == "cancelled"
    message = Notification.objects.get(kind="booking_cancelled")
    assert "2e dose" in notification_render(notification=message).body
    item = rebook_item_get(token=rebook_link(message))
    assert item.dose_number == 2
    # The dose the person is owed stays promised; only the session's free places left.
    assert ledger(site) == before  # dose-2 places promise nothing of their own
    [offer] = rebook_offers(item=item).offers
    slot = Slot.objects.get(pk=offer.slots[0].pk)
    assert slot.session_id != dose2.slot.session_id and slot.dose_number == 2
    assert 21 <= (slot.date - DAY).days <= 49

    booking_rebook(item_id=item.pk, slot_id=slot.pk)
    [new_dose2] = Appointment.objects.filter(series=series, dose_number=2, status="booked")
    assert new_dose2.slot == slot
    assert Series.objects.get(pk=series.pk).status == "active"


def test_a_cancelled_dose_2_session_takes_dose_1_with_it_when_dose_1_is_to_come(site):
    morning = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time").first()
    booked = book(morning, "Jeanne")
    dose2 = max(booked.appointments, key=lambda a: a.dose_number)
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Scope.SESSION,
        session_id=dose2.slot.session_id,
        reason="Grève.",
    )
    assert Series.objects.get().status == "cancelled"
    assert set(Appointment.objects.values_list("status", flat=True)) == {"cancelled"}
    assert CancellationItem.objects.get().dose_number == 1


def test_cancelling_a_whole_site_closes_it_to_the_public(site):
    book(Session.objects.get(date=DAY + timedelta(days=1)), "Jeanne")
    cancellation = cancellation_create(
        actor=STAFF, site_id=site.pk, scope=Scope.SITE, reason="Fermeture."
    )
    assert Site.objects.get(pk=site.pk).status == "closed"
    assert not Session.objects.filter(site=site, status="open").exists()
    assert cancellation.courses == 1 and Series.objects.get().status == "cancelled"
    # Every place left with its session: nothing stays promised at a closed site.
    assert ledger(site)[1] == 0


def test_a_cancellation_needs_a_reason_and_changes_nothing_without_one(site):
    book(Session.objects.filter(date=DAY, dose_number=1).first(), "Jeanne")
    with pytest.raises(InvalidInput, match="raison"):
        cancellation_create(actor=STAFF, site_id=site.pk, scope=Scope.DAY, day=DAY, reason="   ")
    assert not Cancellation.objects.exists()
    assert Series.objects.get().status == "active"
    with pytest.raises(NotFound):
        cancellation_create(
            actor=STAFF, site_id=site.pk, scope=Scope.SESSION, session_id=10**9, reason="x"
        )


def test_a_forged_or_expired_link_is_not_found(site, monkeypatch):
    morning = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time").first()
    book(morning, "Jeanne")
    cancellation_create(
        actor=STAFF, site_id=site.pk, scope=Scope.SESSION, session_id=morning.pk, reason="x"
    )
    token = rebook_link(Notification.objects.get(kind="booking_cancelled"))
    assert rebook_item_get(token=token)
    for forged in ("1:forged:token", token[:-2] + "xx", tokens.rebook_token(item_id=10**9)):
        with pytest.raises(NotFound):
            rebook_item_get(token=forged)
    a_month_later = time_module.time() + tokens.REBOOK_MAX_AGE + 60
    monkeypatch.setattr(signing.time, "time", lambda: a_month_later)
    with pytest.raises(NotFound):
        rebook_item_get(token=token)


def test_cancelling_after_dose_1_was_given_returns_the_dose_2_dose_to_stock(
    site, django_user_model
):
    morning = Session.objects.filter(date=DAY, dose_number=1).order_by("start_time").first()
    booked = book(morning, "Jeanne", now=at(DAY, 7))
    dose1 = min(booked.appointments, key=lambda a: a.dose_number)
    nurse = django_user_model.objects.create_user(username="nurse")
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        actor=Actor(user=nurse),
        now=at(DAY, 9, 5),
    )
    delivered, committed, given = ledger(site)
    booking_cancel(series_id=booked.series.pk, reason="Ne souhaite plus.", now=at(DAY, 10))
    assert ledger(site) == (delivered, committed - 1, given)
