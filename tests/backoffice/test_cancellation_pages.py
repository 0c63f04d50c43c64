"""Cancelling from the back office: a confirmation that says who is affected, a reason
required, the counts after, and the person's one-click rebooking from the message."""

import re

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.booking.models import Cancellation, Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import person, two_dose_site, verified_contact
from tests.portal.helpers import link_open
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def booked(reference):
    site, session = two_dose_site(name="Wagram")
    other, _ = two_dose_site(name="Batignolles", insee_code="75117")
    for name in ("Jeanne", "Paul"):
        slot = session.slots.filter(booked__lt=2).order_by("start").first()
        booking_confirm(
            hold_id=hold_create(slot_id=slot.pk).hold.pk,
            contact=verified_contact(),
            person=person(given_name=name),
        )
    staff_account_create(
        username="chef", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[site]
    )
    return site, session, other


def sign_in(client, username="chef"):
    staff_sign_in(client, username)


def test_a_manager_cancels_a_day_and_sees_who_was_told(client, booked):
    site, session, _other = booked
    sign_in(client)
    url = reverse("backoffice:cancel", args=[site.pk])
    query = {"portee": "day", "jour": session.date.isoformat()}
    page = client.get(url, query).content.decode()
    assert "2 personnes seront prévenues" in page
    response = client.post(url, {**query, "reason": "Panne du réfrigérateur."}, follow=True)
    page = response.content.decode()
    assert "Annulation faite" in page
    assert re.search(r'id="notified">2<', page) and re.search(r'id="rebooked">0<', page)
    assert set(Series.objects.values_list("status", flat=True)) == {"cancelled"}
    event = AuditEvent.objects.get(action="change", object_type="booking.cancellation")
    assert event.actor.username == "chef" and event.site == site


def test_no_reason_no_cancellation(client, booked):
    site, session, _other = booked
    sign_in(client)
    response = client.post(
        reverse("backoffice:cancel", args=[site.pk]),
        {"portee": "session", "session": session.pk, "reason": ""},
    )
    assert response.status_code == 400
    assert not Cancellation.objects.exists()
    assert set(Series.objects.values_list("status", flat=True)) == {"active"}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"portee": "galaxie"},
        {"portee": "session", "session": "abc"},
        {"portee": "session", "session": "9" * 30},
        {"portee": "day", "jour": "demain"},
    ],
)
def test_bad_requests_are_4xx_and_change_nothing(client, booked, query):
    site, _session, _other = booked
    sign_in(client)
    url = reverse("backoffice:cancel", args=[site.pk])
    assert client.get(url, query).status_code == 400
    assert client.post(url, {**query, "reason": "x"}).status_code == 400
    assert not Cancellation.objects.exists()


def test_a_session_of_another_site_is_not_found_under_ones_own(client, booked):
    site, _session, other = booked
    sign_in(client)
    foreign = other.sessions.first()
    url = reverse("backoffice:cancel", args=[site.pk])
    query = {"portee": "session", "session": foreign.pk}
    assert client.get(url, query).status_code == 404
    assert client.post(url, {**query, "reason": "x"}).status_code == 404
    assert not Cancellation.objects.exists()


def test_site_staff_cannot_cancel(client, booked):
    site, session, _other = booked
    sign_in(client, "agent")
    response = client.get(
        reverse("backoffice:cancel", args=[site.pk]), {"portee": "session", "session": session.pk}
    )
    assert response.status_code == 404


def test_the_person_follows_the_link_and_rebooks_then_the_manager_sees_it(client, booked):
    site, session, _other = booked
    sign_in(client)
    client.post(
        reverse("backoffice:cancel", args=[site.pk]),
        {"portee": "session", "session": session.pk, "reason": "Grève."},
    )
    message = Notification.objects.filter(kind="booking_cancelled").first()
    person_browser = client.__class__()
    link = link_open(person_browser, notification_render(notification=message).body)
    page = person_browser.get(link)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Grève." in text and "Choisir le" in text
    slot = re.search(r'name="slot" value="(\d+)"', text)[1]
    response = person_browser.post(link, {"slot": slot}, follow=True)
    assert "Confirmer le nouveau rendez-vous" in response.content.decode()
    assert not Series.objects.filter(status="active").exists()
    response = person_browser.post(link, {"slot": slot, "confirm": "1"}, follow=True)
    assert "C&#x27;est réservé" in response.content.decode()
    assert Series.objects.filter(status="active").count() == 1
    # A second click, or the link opened again, books nothing more.
    person_browser.post(link, {"slot": slot, "confirm": "1"})
    assert Series.objects.filter(status="active").count() == 1

    cancellation = Cancellation.objects.get()
    page = client.get(
        reverse("backoffice:cancellation", args=[site.pk, cancellation.pk])
    ).content.decode()
    assert re.search(r'id="rebooked">1<', page)


def test_a_forged_link_is_404(client, booked):
    assert client.post("/reprendre/ouvrir/", {"cle": "1:forged:token"}).status_code == 404
    assert client.get("/reprendre/1:forged:token/").status_code == 404
