"""The API books a dose 2 alone for a person whose dose 1 was given elsewhere: the search
finds the product's second-dose places inside the interval, the hold names dose 1, the
booking records it; bad declarations are a 400 for their field, never a 500."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.booking.models import Series
from creneau.outreach.models import Notification
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Stock
from tests.api.test_booking_api import ADULT, contact_token
from tests.factories import deliver, make_site, open_session, tomorrow

TODAY = timezone.localdate()
GIVEN_ON = TODAY - timedelta(days=20)
DECLARED = {"vaccine": "comirnaty", "given_on": GIVEN_ON.isoformat()}


@pytest.fixture
def slot(reference, settings):
    settings.DEMO = True
    site = make_site(name="Wagram")
    deliver(site, 10)
    return open_session(site, day=tomorrow(2), dose_number=2).slots.order_by("start").first()


def hold(client, slot_id: int, declared=DECLARED):
    return client.post(
        "/api/v1/holds", {"slot_id": slot_id, "dose1_elsewhere": declared}, "application/json"
    )


def book(client, hold_id: str, token: str, key: str = "dose2-alone-0001"):
    return client.post(
        "/api/v1/bookings",
        {"hold_id": hold_id, "contact_token": token, "person": ADULT},
        "application/json",
        headers={"Idempotency-Key": key},
    )


def test_search_hold_book_and_cancel_a_dose2_alone(client, slot):
    window = {"vaccine": "comirnaty", "dose": 2}
    window |= {"date_from": TODAY.isoformat(), "date_to": (GIVEN_ON + timedelta(days=49))}
    found = client.get("/api/v1/sites", {"near": "75017", **window}).json()
    assert [result["id"] for result in found["results"]] == [slot.site_id]

    held = hold(client, slot.pk)
    assert held.status_code == 201, held.json()
    assert held.json()["dose2_slot_id"] is None
    token = contact_token(client)
    booked = book(client, held.json()["id"], token)
    assert booked.status_code == 201, booked.json()
    booking = booked.json()
    assert [a["dose_number"] for a in booking["appointments"]] == [2]
    assert booking["dose1_elsewhere"] == {
        "vaccine": "comirnaty",
        "given_on": GIVEN_ON.isoformat(),
        "declared_by": "person",
    }
    # The retry answers the same booking, and nothing more is sent (invariants 5 and 7).
    assert book(client, held.json()["id"], token).json()["reference"] == booking["reference"]
    assert Notification.objects.filter(kind="booking_confirmed").count() == 1

    auth = {"Authorization": f"Bearer {booking['management_token']}"}
    cancelled = client.post(f"/api/v1/bookings/{booking['reference']}/cancel-dose-2", headers=auth)
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["dose1_elsewhere"]["given_on"] == GIVEN_ON.isoformat()
    assert Slot.objects.get(pk=slot.pk).booked == 0
    assert Stock.objects.get(site_id=slot.site_id).committed == 0


@pytest.mark.parametrize(
    ("declared", "words"),
    [
        ({"vaccine": "comirnaty", "given_on": (TODAY + timedelta(days=3)).isoformat()}, "futur"),
        ({"vaccine": "janssen", "given_on": GIVEN_ON.isoformat()}, "une seule dose"),
        ({"vaccine": "inconnu", "given_on": GIVEN_ON.isoformat()}, "inconnu"),
        ({"vaccine": "comirnaty", "given_on": "2021-01-10"}, "dépassé"),
        ({"vaccine": "x" * 41, "given_on": GIVEN_ON.isoformat()}, None),
        ({"vaccine": "comirnaty", "given_on": "hier"}, None),
        ({"vaccine": "comirnaty"}, None),
    ],
)
def test_a_declaration_that_cannot_be_is_a_4xx_and_holds_nothing(client, slot, declared, words):
    answer = hold(client, slot.pk, declared)
    assert 400 <= answer.status_code < 500, answer.content
    if words:
        assert answer.status_code == 400
        assert words in answer.json()["detail"]
    assert not Slot.objects.filter(booked__gt=0).exists()


def test_a_first_dose_slot_or_a_slot_outside_the_interval_is_refused(client, slot):
    site = slot.site
    deliver(site, 100)
    first = open_session(site, day=tomorrow(3)).slots.first()
    late = open_session(site, day=GIVEN_ON + timedelta(days=55), dose_number=2).slots.first()
    assert hold(client, first.pk).status_code == 400
    assert hold(client, late.pk).json()["code"] == "dose2_unavailable"
    assert not Series.objects.exists()


def test_a_person_with_a_course_under_way_gets_it_back(client, slot):
    token = contact_token(client)
    first = book(client, hold(client, slot.pk).json()["id"], token)
    second_slot = Slot.objects.filter(session=slot.session).exclude(pk=slot.pk).first()
    again = book(client, hold(client, second_slot.pk).json()["id"], token, key=str(uuid.uuid4()))
    assert again.status_code == 200
    assert again.json()["existing"] is True
    assert again.json()["reference"] == first.json()["reference"]
