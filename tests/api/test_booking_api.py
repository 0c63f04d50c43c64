import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.booking.models import Appointment, ContactVerification, Hold, Series
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.outreach.models import Notification
from creneau.scheduling.models import Slot
from tests.factories import LOT, deliver, make_site, open_session, two_dose_site

PHONE = "+33612345678"
ADULT = {"given_name": "Jeanne", "family_name": "Martin", "birth_date": "1940-03-02"}


@pytest.fixture
def site_and_session(reference, settings):
    settings.DEMO = True
    return two_dose_site()


def code_sent_to(client, address: str) -> str:
    messages = client.get("/api/v1/demo/outbox", {"to": address}).json()["results"]
    return re.search(r"\b(\d{6})\b", messages[0]["body"]).group(1)


def contact_token(client, phone: str = PHONE) -> str:
    started = client.post("/api/v1/contacts/verifications", {"phone": phone}, "application/json")
    assert started.status_code == 201, started.json()
    code = code_sent_to(client, phone)
    confirmed = client.post(
        f"/api/v1/contacts/verifications/{started.json()['id']}/confirm",
        {"code": code},
        "application/json",
    )
    assert confirmed.status_code == 200, confirmed.json()
    return confirmed.json()["contact_token"]


def book(client, slot_id: int, token: str, person=ADULT, key: str | None = None, **extra):
    hold = client.post("/api/v1/holds", {"slot_id": slot_id}, "application/json")
    assert hold.status_code == 201, hold.json()
    body = {"hold_id": hold.json()["id"], "contact_token": token, "person": person, **extra}
    return client.post(
        "/api/v1/bookings",
        body,
        "application/json",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def test_the_whole_journey_verify_hold_book_read_move_cancel(client, site_and_session):
    _site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    token = contact_token(client, "06 12 34 56 78")
    hold = client.post("/api/v1/holds", {"slot_id": slots[0].pk}, "application/json").json()
    assert hold["dose2_options"][0]["slot_id"] == hold["dose2_slot_id"]
    assert hold["dose2_options"][0]["start"].startswith(
        (session.date + timedelta(days=42)).isoformat()
    )
    booked = client.post(
        "/api/v1/bookings",
        {"hold_id": hold["id"], "contact_token": token, "person": ADULT},
        "application/json",
        headers={"Idempotency-Key": "first-booking-key"},
    )
    assert booked.status_code == 201, booked.json()
    booking = booked.json()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-.", booking["reference"])
    assert [a["dose_number"] for a in booking["appointments"]] == [1, 2]
    assert booking["appointments"][1]["slot_id"] == hold["dose2_slot_id"]
    messages = client.get("/api/v1/demo/outbox", {"to": PHONE}).json()["results"]
    assert messages[0]["kind"] == "booking_confirmed"
    assert booking["reference"] in messages[0]["body"]

    auth = {"Authorization": f"Bearer {booking['management_token']}"}
    url = f"/api/v1/bookings/{booking['reference']}"
    assert client.get(url, headers=auth).json()["reference"] == booking["reference"]
    assert client.get(url.lower().replace("-", ""), headers=auth).status_code == 200
    moved = client.post(
        f"{url}/move", {"dose_number": 1, "slot_id": slots[3].pk}, "application/json", headers=auth
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["appointments"][0]["slot_id"] == slots[3].pk
    cancelled = client.post(f"{url}/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert {a["status"] for a in cancelled.json()["appointments"]} == {"cancelled"}
    kinds = [m["kind"] for m in client.get("/api/v1/demo/outbox", {"to": PHONE}).json()["results"]]
    assert kinds == ["booking_cancelled", "booking_moved", "booking_confirmed", "verification_code"]
    assert Slot.objects.filter(booked__gt=0).count() == 0


def test_a_hold_lists_every_day_of_the_interval_with_dose2_places(client, site_and_session):
    """As the portal's day picker: every day with places, not only the 8 nearest slots
    (their three days at most); a day's slots come from the site's slots, and any of
    them may be booked."""
    site, session = site_and_session
    dose1_day = session.date
    open_session(site, day=dose1_day + timedelta(days=28), lines=1, dose_number=2)
    hold = client.post(
        "/api/v1/holds", {"slot_id": session.slots.order_by("start").first().pk}, "application/json"
    ).json()
    # The held place's day counts it among its places: it is the person's to keep.
    assert hold["dose2_days"] == [
        {"date": (dose1_day + timedelta(days=offset)).isoformat(), "available": places}
        for offset, places in ((28, 6), (35, 12), (42, 12), (49, 12))
    ]
    offered_days = {option["start"][:10] for option in hold["dose2_options"]}
    far = (dose1_day + timedelta(days=28)).isoformat()
    assert far not in offered_days  # the compatible field still lists 8 slots only
    slots = client.get(
        f"/api/v1/sites/{site.pk}/slots", {"date": far, "dose": 2, "vaccine": "comirnaty"}
    ).json()["results"]
    booked = client.post(
        "/api/v1/bookings",
        {
            "hold_id": hold["id"],
            "dose2_slot_id": slots[0]["id"],
            "contact_token": contact_token(client),
            "person": ADULT,
        },
        "application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.json()
    assert booked.json()["appointments"][1]["start"].startswith(far)


def test_a_one_dose_hold_has_no_dose2_days(client, reference, settings):
    site = make_site()
    deliver(site, 100, code="janssen")
    session = open_session(site, code="janssen")
    hold = client.post("/api/v1/holds", {"slot_id": session.slots.first().pk}, "application/json")
    assert hold.status_code == 201
    assert hold.json()["dose2_days"] == [] and hold.json()["dose2_slot_id"] is None


def test_a_retried_request_returns_the_same_booking(client, site_and_session):
    _site, session = site_and_session
    token = contact_token(client)
    hold = client.post(
        "/api/v1/holds", {"slot_id": session.slots.first().pk}, "application/json"
    ).json()
    body = {"hold_id": hold["id"], "contact_token": token, "person": ADULT}
    headers = {"Idempotency-Key": "retry-me-please"}
    first = client.post("/api/v1/bookings", body, "application/json", headers=headers)
    second = client.post("/api/v1/bookings", body, "application/json", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    other_body = {**body, "person": {**ADULT, "given_name": "Paul"}}
    reused = client.post("/api/v1/bookings", other_body, "application/json", headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert Series.objects.count() == 1


def test_booking_the_same_person_again_answers_the_existing_booking(client, site_and_session):
    _site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    token = contact_token(client)
    first = book(client, slots[0].pk, token)
    again = book(client, slots[1].pk, token, person={**ADULT, "family_name": "MARTIN "})
    assert again.status_code == 200
    assert again.json()["existing"] is True
    assert again.json()["reference"] == first.json()["reference"]
    assert Slot.objects.get(pk=slots[1].pk).booked == 0


def test_a_retry_of_an_answer_that_found_the_existing_booking_says_so_again(
    client, site_and_session
):
    _site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    token = contact_token(client)
    book(client, slots[0].pk, token)
    hold = client.post("/api/v1/holds", {"slot_id": slots[1].pk}, "application/json").json()
    body = {"hold_id": hold["id"], "contact_token": token, "person": ADULT}
    headers = {"Idempotency-Key": "existing-then-retried"}
    first = client.post("/api/v1/bookings", body, "application/json", headers=headers)
    again = client.post("/api/v1/bookings", body, "application/json", headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.json()["existing"] is True


def test_one_contact_books_for_a_relative_too(client, site_and_session):
    _site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    token = contact_token(client)
    mother = book(client, slots[0].pk, token)
    daughter = book(client, slots[0].pk, token, person={**ADULT, "given_name": "Claire"})
    assert mother.status_code == daughter.status_code == 201
    assert mother.json()["reference"] != daughter.json()["reference"]


def errors(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


def test_bad_requests_get_a_clear_4xx_and_change_nothing(client, site_and_session):
    _site, session = site_and_session
    slot = session.slots.order_by("start").first()
    token = contact_token(client)
    post = lambda url, body, **kw: client.post(url, body, "application/json", **kw)  # noqa: E731
    assert errors(post("/api/v1/holds", {"slot_id": 999999})) == (404, "not_found")
    assert post("/api/v1/holds", {"slot_id": "x"}).status_code == 422
    assert post("/api/v1/holds", {}).status_code == 422
    dose2_slot = Slot.objects.filter(dose_number=2).first()
    assert errors(post("/api/v1/holds", {"slot_id": dose2_slot.pk})) == (400, "invalid")
    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() - timedelta(minutes=1))
    assert errors(post("/api/v1/holds", {"slot_id": slot.pk})) == (409, "slot_unavailable")
    slot = session.slots.order_by("start")[1]
    hold = post("/api/v1/holds", {"slot_id": slot.pk}).json()
    key = {"headers": {"Idempotency-Key": str(uuid.uuid4())}}
    body = {"hold_id": hold["id"], "contact_token": token, "person": ADULT}
    assert post("/api/v1/bookings", body).status_code == 422  # no Idempotency-Key
    bad_token = {**body, "contact_token": "forged"}
    assert errors(post("/api/v1/bookings", bad_token, **key)) == (401, "unauthorized")
    too_young = {**body, "person": {**ADULT, "birth_date": "2020-01-01"}}
    assert errors(post("/api/v1/bookings", too_young, **key))[0] == 403
    future = {**body, "person": {**ADULT, "birth_date": "2999-01-01"}}
    assert errors(post("/api/v1/bookings", future, **key)) == (400, "invalid")
    unknown_category = {**body, "person": {**ADULT, "categories": ["astronaut"]}}
    assert errors(post("/api/v1/bookings", unknown_category, **key)) == (400, "invalid")
    empty_name = {**body, "person": {**ADULT, "given_name": "  "}}
    assert errors(post("/api/v1/bookings", empty_name, **key)) == (400, "invalid")
    wrong_dose2 = {**body, "dose2_slot_id": slot.pk}
    assert errors(post("/api/v1/bookings", wrong_dose2, **key)) == (409, "dose2_unavailable")
    unknown_hold = {**body, "hold_id": str(uuid.uuid4())}
    assert errors(post("/api/v1/bookings", unknown_hold, **key)) == (410, "hold_expired")
    assert Series.objects.count() == 0
    assert Slot.objects.get(pk=slot.pk).booked == 1  # still held, nothing else
    assert client.delete(f"/api/v1/holds/{hold['id']}").status_code == 204
    assert client.delete(f"/api/v1/holds/{hold['id']}").status_code == 404
    assert Slot.objects.filter(booked__gt=0).count() == 0


def test_an_expired_hold_is_refused_and_its_place_comes_back(client, site_and_session):
    _site, session = site_and_session
    slot = session.slots.order_by("start").first()
    Slot.objects.filter(pk=slot.pk).update(capacity=1)
    token = contact_token(client)
    hold = client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json").json()
    from creneau.booking.models import Hold

    Hold.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    body = {"hold_id": hold["id"], "contact_token": token, "person": ADULT}
    late = client.post(
        "/api/v1/bookings", body, "application/json", headers={"Idempotency-Key": "late-key-1"}
    )
    assert errors(late) == (410, "hold_expired")
    # The slot looks full, but the expired hold gives its place to the next person.
    again = client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
    assert again.status_code == 201


def test_a_full_slot_held_by_others_says_so(client, site_and_session):
    _site, session = site_and_session
    slot = session.slots.order_by("start").first()
    # Each place by another caller: one caller keeps two holds at most.
    for n in range(slot.capacity):
        taken = client.post(
            "/api/v1/holds", {"slot_id": slot.pk}, "application/json", REMOTE_ADDR=f"10.0.0.{n}"
        )
        assert taken.status_code == 201
    refused = client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
    assert errors(refused) == (409, "slot_unavailable")
    assert refused.json()["reason"] == "held"


def test_management_needs_the_token(client, site_and_session):
    _site, session = site_and_session
    booking = book(client, session.slots.first().pk, contact_token(client)).json()
    url = f"/api/v1/bookings/{booking['reference']}"
    assert client.get(url).status_code == 401
    assert errors(client.get(url, headers={"Authorization": "Bearer wrong"})) == (404, "not_found")
    assert (
        client.get("/api/v1/bookings/NOPE", headers={"Authorization": "Bearer x"}).status_code
        == 404
    )
    assert (
        client.post(f"{url}/cancel", headers={"Authorization": "Bearer wrong"}).status_code == 404
    )
    assert Series.objects.get().status == "active"


def test_dose_2_alone_is_cancelled_once_dose_1_is_given(
    client, site_and_session, django_user_model
):
    _site, session = site_and_session
    booking = book(client, session.slots.order_by("start").first().pk, contact_token(client)).json()
    url = f"/api/v1/bookings/{booking['reference']}/cancel-dose-2"
    auth = {"Authorization": f"Bearer {booking['management_token']}"}
    assert client.post(url).status_code == 401
    assert errors(client.post(url, headers={"Authorization": "Bearer wrong"})) == (
        404,
        "not_found",
    )
    # Dose 1 still to come: refused (invariant 3), nothing changes.
    refused = client.post(url, headers=auth)
    assert errors(refused) == (400, "invalid")
    assert "La première dose n'est pas encore faite" in refused.json()["detail"]
    assert Appointment.objects.filter(status="booked").count() == 2

    dose1 = Appointment.objects.get(dose_number=1)
    administration_record(
        appointment_id=dose1.pk,
        site_id=dose1.slot.site_id,
        lot=LOT,
        actor=Actor(user=django_user_model.objects.create_user(username="infirmiere")),
        now=dose1.slot.start + timedelta(minutes=5),
    )
    cancelled = client.post(url, headers=auth)
    assert cancelled.status_code == 200, cancelled.json()
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert [(a["dose_number"], a["status"]) for a in body["appointments"]] == [
        (1, "fulfilled"),
        (2, "cancelled"),
    ]
    kinds = [m["kind"] for m in client.get("/api/v1/demo/outbox", {"to": PHONE}).json()["results"]]
    assert kinds[0] == "booking_cancelled"
    # Again (a retry): the same answer, no second message.
    again = client.post(url, headers=auth)
    assert again.status_code == 200 and again.json() == body
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1


def test_verification_codes_expire_limit_attempts_and_resend_once_a_minute(
    client, reference, settings
):
    settings.DEMO = True
    post = lambda url, body: client.post(url, body, "application/json")  # noqa: E731
    started = post("/api/v1/contacts/verifications", {"email": "Jeanne@Example.fr"})
    assert started.status_code == 201
    assert errors(post("/api/v1/contacts/verifications", {"email": "jeanne@example.fr"})) == (
        429,
        "too_many_requests",
    )
    url = f"/api/v1/contacts/verifications/{started.json()['id']}/confirm"
    code = code_sent_to(client, "jeanne@example.fr")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    for left in (4, 3, 2, 1, 0):
        refused = post(url, {"code": wrong})
        assert errors(refused) == (400, "code_invalid")
        assert refused.json()["attempts_left"] == left
    # The last wrong code says what to do next, not "0 attempts left".
    assert "dernier essai" in refused.json()["detail"]
    assert "Il reste 0" not in refused.json()["detail"]
    assert errors(post(url, {"code": code})) == (429, "too_many_requests")
    assert errors(post("/api/v1/contacts/verifications", {"phone": "12"})) == (400, "invalid")
    assert errors(post("/api/v1/contacts/verifications", {})) == (400, "invalid")
    ContactVerification.objects.update(attempts=0, expires_at=timezone.now())
    assert errors(post(url, {"code": code})) == (410, "code_expired")


def test_the_demo_outbox_exists_only_in_demo_mode(client, reference, settings):
    settings.DEMO = False
    assert client.get("/api/v1/demo/outbox", {"to": PHONE}).status_code == 404


def test_a_code_used_frees_the_next_at_once(client, reference, settings):
    """A booking's code, then "Gérer" on another device a few seconds later: the limit of
    one code a minute is for codes not answered."""
    settings.DEMO = True
    post = lambda url, body: client.post(url, body, "application/json")  # noqa: E731
    started = post("/api/v1/contacts/verifications", {"email": "jeanne@example.fr"})
    code = code_sent_to(client, "jeanne@example.fr")
    confirm = f"/api/v1/contacts/verifications/{started.json()['id']}/confirm"
    assert post(confirm, {"code": code}).status_code == 200
    assert post("/api/v1/contacts/verifications", {"email": "jeanne@example.fr"}).status_code == 201
    assert errors(post("/api/v1/contacts/verifications", {"email": "jeanne@example.fr"})) == (
        429,
        "too_many_requests",
    )


def test_search_answers_next_slots_and_a_hold_names_a_site_and_time(client, site_and_session):
    site, session = site_and_session
    slots = list(session.slots.order_by("start"))
    found = client.get(
        "/api/v1/sites", {"near": "75017", "vaccine": "comirnaty", "dose": 1, "limit": 5}
    ).json()["results"]
    ours = next(r for r in found if r["id"] == site.pk)
    assert [s["id"] for s in ours["next_slots"]] == [s.pk for s in slots]
    assert ours["next_slots"][0]["available"] == 2

    pick = ours["next_slots"][2]
    hold = client.post(
        "/api/v1/holds",
        {"site_id": site.pk, "start": pick["start"], "vaccine": "comirnaty"},
        "application/json",
    )
    assert hold.status_code == 201, hold.json()
    assert hold.json()["slot_id"] == pick["id"]
    assert hold.json()["dose2_slot_id"]


def test_a_hold_by_site_and_time_takes_the_next_free_place_when_that_one_just_filled(
    client, site_and_session
):
    site, session = site_and_session
    first, second = list(session.slots.order_by("start"))[:2]
    Slot.objects.filter(pk=first.pk).update(booked=first.capacity)  # filled meanwhile
    place = {"site_id": site.pk, "start": first.start.isoformat(), "vaccine": "comirnaty"}
    hold = client.post("/api/v1/holds", place, "application/json")
    assert hold.status_code == 201, hold.json()
    assert hold.json()["slot_id"] == second.pk


def test_a_hold_by_site_and_time_is_refused_when_the_day_has_no_place_left_from_then(
    client, site_and_session
):
    site, session = site_and_session
    last = session.slots.order_by("start").last()
    Slot.objects.filter(pk=last.pk).update(booked=last.capacity)
    place = {"site_id": site.pk, "start": last.start.isoformat(), "vaccine": "comirnaty"}
    refused = client.post("/api/v1/holds", place, "application/json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "slot_unavailable"
    assert not Hold.objects.exists()


def test_a_hold_names_a_slot_or_a_whole_place(client, site_and_session):
    site, session = site_and_session
    start = session.slots.first().start.isoformat()
    for body in ({}, {"site_id": site.pk, "start": start}, {"site_id": site.pk}):
        answer = client.post("/api/v1/holds", body, "application/json")
        assert answer.status_code == 422, (body, answer.json())
    unknown = {"site_id": 999999, "start": start, "vaccine": "comirnaty"}
    assert client.post("/api/v1/holds", unknown, "application/json").status_code == 404
    wrong = {"site_id": site.pk, "start": start, "vaccine": "nope"}
    assert client.post("/api/v1/holds", wrong, "application/json").status_code == 400
