"""Cancelling from the booking's page and the caller's file: the second dose alone once
the first is given (never before), and, after a cancellation, a way to book again."""

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking import tokens
from creneau.booking.models import Appointment, Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.booking.test_dose2_cancel import dose1_given
from tests.factories import at, person, tomorrow, two_dose_site, verified_contact
from tests.staff_door import staff_sign_in

DAY = tomorrow()


@pytest.fixture
def course(reference):
    _site, session = two_dose_site(name="Centre Wagram", dose1_day=DAY)
    slot = session.slots.order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=at(DAY, 7)).hold.pk,
        contact=verified_contact(),
        person=person(),
        now=at(DAY, 7),
    )


@pytest.fixture
def dose1_done(course, django_user_model, monkeypatch):
    dose1_given(course, django_user_model)
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, 12))
    return course


def opened(client: Client, course) -> str:
    """The booking's page, opened with the link's key; its display reference."""
    display = tokens.reference_display(course.series.reference)
    client.get(reverse("portal:booking", args=[display]), {"cle": course.management_token})
    return display


def statuses(course) -> list[str]:
    return list(
        Appointment.objects.filter(series=course.series)
        .order_by("dose_number")
        .values_list("status", flat=True)
    )


def test_once_dose_1_is_given_the_person_cancels_dose_2_alone(client, dose1_done):
    display = opened(client, dose1_done)
    page = client.get(reverse("portal:booking", args=[display])).content.decode()
    assert reverse("portal:cancel_dose2", args=[display]) in page
    assert "Annuler la seconde dose" in page and "Annuler le rendez-vous" not in page

    confirm = unescape(client.get(reverse("portal:cancel_dose2", args=[display])).content.decode())
    assert "La première dose reste enregistrée" in confirm

    response = client.post(reverse("portal:cancel_dose2", args=[display]))

    assert response.status_code == 302
    assert statuses(dose1_done) == ["fulfilled", "cancelled"]
    after = client.get(response["Location"]).content.decode()
    assert "Seconde dose annulée" in after
    # A new booking would start with a first dose: not offered after a dose was given.
    assert "Prendre un autre rendez-vous" not in after
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1


def test_while_dose_1_is_to_come_dose_2_alone_is_neither_offered_nor_done(client, course):
    display = opened(client, course)
    page = client.get(reverse("portal:booking", args=[display])).content.decode()
    assert reverse("portal:cancel_dose2", args=[display]) not in page

    confirm = unescape(client.get(reverse("portal:cancel_dose2", args=[display])).content.decode())
    assert "La première dose n'est pas encore faite" in confirm and "<form method" not in confirm

    response = client.post(reverse("portal:cancel_dose2", args=[display]))

    assert response.status_code == 400
    assert "La première dose n'est pas encore faite" in unescape(response.content.decode())
    assert statuses(course) == ["booked", "booked"]
    assert not Notification.objects.filter(kind="booking_cancelled").exists()


def test_after_a_cancellation_the_person_is_offered_a_search_near_the_same_place(client, course):
    display = opened(client, course)

    response = client.post(reverse("portal:cancel", args=[display]))

    page = client.get(response["Location"]).content.decode()
    assert 'href="/?near=75017#resultat"' in page and "Prendre un autre rendez-vous" in page
    assert "75017 Paris 17e" in client.get("/?near=75017").content.decode()


@pytest.fixture
def agent(client, reference):
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    staff_sign_in(client, "agent")
    return client


def test_the_agent_cancels_dose_2_alone_once_dose_1_is_given(dose1_done, agent):
    url = reverse("callcenter:file", args=[dose1_done.series.pk])
    page = agent.get(url).content.decode()
    assert reverse("callcenter:cancel_dose2", args=[dose1_done.series.pk]) in page
    assert reverse("callcenter:cancel", args=[dose1_done.series.pk]) not in page

    response = agent.post(
        reverse("callcenter:cancel_dose2", args=[dose1_done.series.pk]),
        {"reason": "Part à l'étranger."},
    )

    assert response.status_code == 302
    assert statuses(dose1_done) == ["fulfilled", "cancelled"]
    assert "2e dose annulée. La confirmation est envoyée." in agent.get(url).content.decode()
    event = AuditEvent.objects.get(summary="2e dose annulée par téléphone")
    assert event.actor.username == "agent" and event.details == {"reason": "Part à l'étranger."}


def test_the_agent_is_refused_dose_2_alone_while_dose_1_is_to_come(agent, course):
    url = reverse("callcenter:cancel_dose2", args=[course.series.pk])

    response = agent.post(url, {"reason": "Ne viendra pas."})

    page = unescape(agent.get(response["Location"]).content.decode())
    assert "La première dose n'est pas encore faite" in page
    assert statuses(course) == ["booked", "booked"]
    assert not AuditEvent.objects.filter(action="change").exists()


def test_after_a_cancellation_the_agent_searches_slots_near_the_same_place(agent, course):
    agent.post(reverse("callcenter:cancel", args=[course.series.pk]), {"reason": "Malade."})

    page = agent.get(reverse("callcenter:file", args=[course.series.pk])).content.decode()

    assert Series.objects.get(pk=course.series.pk).status == "cancelled"
    link = "/callcenter/creneaux/?near=75017&amp;contact=%2B33612345678&amp;fixe="
    assert link in page and "Prendre un autre rendez-vous" in page
    slots = agent.get(unescape(link)).content.decode()
    assert "Centre Wagram" in slots
