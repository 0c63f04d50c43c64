"""Alerts in a person's rights and in the retention purge: their alerts (any contact's)
are shown and given with the rest of their data with the messages about them, erased with
them (a relative's alert through the same phone kept, and the phone with it), and purged a
period after they ended."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.alerts.models import Subscription
from creneau.alerts.services import alerts_run, alerts_stop
from creneau.booking.models import Contact
from creneau.booking.services import booking_confirm, hold_create
from creneau.outreach.models import Notification
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase, retention_purge
from creneau.scheduling.models import Slot
from tests.alerts.helpers import janssen_site, open_places, subscribe
from tests.factories import person, tomorrow, verified_contact

pytestmark = pytest.mark.django_db

PHONE = "+33611111111"
NAMES = {"given_name": "Personne1", "family_name": "Alerte"}


def _book(site, *, phone: str = PHONE):
    """Person 1 (subscribe's names) booked at `site` through `phone`."""
    session = open_places(site, day=tomorrow(2))
    held = hold_create(slot_id=Slot.objects.filter(session=session).first().pk)
    return booking_confirm(
        hold_id=str(held.hold.pk), contact=verified_contact(phone), person=person(**NAMES)
    )


def _about(subscription: Subscription):
    return Notification.objects.filter(event__startswith=f"alert:{subscription.pk}:")


def test_the_data_held_lists_the_alerts_of_any_contact_and_their_messages(reference):
    site = janssen_site()
    alert = subscribe(1)
    # The places' message names the alert whose person it names.
    open_places(janssen_site(name="Centre B", north_km=2))
    assert alerts_run().sent == 1
    assert _about(alert).filter(kind="alert_places").exists()
    booked = _book(site)

    data = person_data(person=booked.series.person)

    (held,) = data["alerts"]
    assert (held["place"], held["radius_km"], held["vaccine"]) == (
        alert.place_label,
        10,
        "COVID-19 Vaccine Janssen",
    )
    assert (held["dose_number"], held["status"]) == (1, "active")
    # Subscribed from their own phone, booked through another: found by the person.
    assert held["contact"] == alert.contact.address != booked.series.contact.address
    kinds = {message["kind"] for message in data["messages"]}
    assert {"alert_subscribed", "alert_places", "booking_confirmed"} <= kinds


def test_erasure_takes_the_alerts_and_their_messages_but_not_a_relatives(reference):
    site = janssen_site()
    # Person 1's alert from another phone, stopped since; and one through the family phone.
    earlier = subscribe(1, phone="+33622222222")
    alerts_stop(subscription_ids=[earlier.pk])
    alert = subscribe(1, phone=PHONE)
    relative = subscribe(2, phone=PHONE)
    open_places(janssen_site(name="Centre B", north_km=2))
    alerts_run()
    booked = _book(site, phone=PHONE)
    Notification.objects.update(status="sent", sent_at=timezone.now())
    assert _about(alert).exists() and _about(earlier).exists()

    counts = person_erase(series_id=booked.series.pk)

    assert counts["alerts"] == 2
    assert list(Subscription.objects.values_list("pk", flat=True)) == [relative.pk]
    assert not _about(alert).exists() and not _about(earlier).exists()
    # The relative's alert still runs through the same phone: the contact stays.
    assert Contact.objects.filter(pk=relative.contact_id).exists()
    assert _about(relative).exists()


def test_alerts_ended_go_after_their_period_and_running_ones_stay(reference, settings):
    stopped = subscribe(1, phone=PHONE)
    alerts_stop(subscription_ids=[stopped.pk])
    running = subscribe(2, phone=PHONE)  # the phone is in use: the contact stays
    now = timezone.now()

    assert retention_purge(now=now + timedelta(days=29), audit=False)["alerts"] == 0
    assert Subscription.objects.count() == 2
    assert retention_purge(now=now + timedelta(days=31), audit=False)["alerts"] == 1
    assert list(Subscription.objects.values_list("pk", flat=True)) == [running.pk]
    assert retention_purge(now=now + timedelta(days=31), audit=False)["alerts"] == 0

    settings.RETENTION_ALERT_DAYS = 60
    third = subscribe(3, phone=PHONE)
    alerts_stop(subscription_ids=[running.pk], now=now + timedelta(days=31))
    assert retention_purge(now=now + timedelta(days=61), audit=False)["alerts"] == 0
    assert retention_purge(now=now + timedelta(days=92), audit=False)["alerts"] == 1
    assert list(Subscription.objects.values_list("pk", flat=True)) == [third.pk]


def test_the_data_page_shows_the_alerts(client, reference, agent):
    alert = subscribe(1)
    booked = _book(janssen_site())
    page = client.get(reverse("callcenter:data", args=[booked.series.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Alertes de créneaux" in text and alert.place_label in text
