"""The abuse limits of issue 14: each one refuses with 429, a plain message and
Retry-After once spent, in the database store and in Redis, and falls back to the
database when Redis stops answering."""

from datetime import date

import pytest

from creneau.admission.counters import counter_add
from creneau.admission.limits import limit_hit, windows_parse
from creneau.admission.models import Counter
from creneau.booking.models import ContactVerification, Hold, Series
from creneau.booking.services import (
    PersonData,
    booking_confirm,
    contact_token_issue,
    hold_create,
)
from creneau.core.errors import TooManyRequests
from creneau.outreach.models import Notification
from tests.factories import two_dose_site, verified_contact

API = "application/json"


@pytest.fixture
def session(reference):
    _site, session = two_dose_site(lines=20)
    return session


def slots_of(session, count: int) -> list[int]:
    return list(session.slots.order_by("start").values_list("pk", flat=True)[:count])


def test_windows_are_read_from_settings_text():
    assert [(w.hits, w.seconds) for w in windows_parse("5/3600, 10/86400")] == [
        (5, 3600),
        (10, 86400),
    ]
    assert windows_parse("0") == windows_parse("") == ()


def test_a_counter_counts_within_its_window_and_starts_again_after_it(db):
    assert counter_add(key="k", window=60, now=120.0).hits == 1
    second = counter_add(key="k", window=60, now=150.0)
    assert (second.hits, second.resets_in) == (2, 30)
    assert counter_add(key="k", window=60, now=180.0).hits == 1
    assert counter_add(key="other", window=60, now=150.0).hits == 1


def test_a_spent_limit_is_refused_with_the_seconds_to_wait(db, settings):
    settings.LIMIT_CODES_PER_ADDRESS = "2/3600"
    limit_hit(name="codes_per_address", key="10.0.0.1", now=3600.0)
    limit_hit(name="codes_per_address", key="10.0.0.1", now=3600.0)
    with pytest.raises(TooManyRequests) as refusal:
        limit_hit(name="codes_per_address", key="10.0.0.1", now=3600.0 + 600)
    assert refusal.value.details["retry_after"] == 3000
    assert "50 min" in refusal.value.message
    limit_hit(name="codes_per_address", key="10.0.0.2", now=3600.0 + 600)


# Holds -----------------------------------------------------------------------------------


def test_an_api_caller_keeps_two_live_holds_its_oldest_given_back(client, session):
    first, second, third = slots_of(session, 3)
    answers = [client.post("/api/v1/holds", {"slot_id": s}, API) for s in (first, second, third)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert set(Hold.objects.values_list("slot_id", flat=True)) == {second, third}
    # The first slot's place went back with its hold.
    assert session.slots.get(pk=first).booked == 0


def test_one_network_holds_few_places_at_once(client, session, settings):
    settings.HOLDS_PER_ADDRESS = 3
    slots = slots_of(session, 4)
    # Three portal sessions behind one address (a household, a care home's box)…
    for slot_id in slots[:3]:
        client.cookies.clear()
        site = session.site_id
        assert client.post("/reserver/", {"slot": slot_id, "site": site}).status_code == 302
    assert Hold.objects.count() == 3
    # …and a fourth is told to finish one first.
    refused = client.post("/api/v1/holds", {"slot_id": slots[3]}, API)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert refused.json()["code"] == "too_many_requests"
    assert Hold.objects.count() == 3
    # Another network is not concerned.
    other = client.post("/api/v1/holds", {"slot_id": slots[3]}, API, REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 201


def test_taking_and_dropping_holds_again_and_again_is_slowed(client, session, settings):
    settings.LIMIT_HOLDS_PER_CLIENT = "4/600"
    slot_id = slots_of(session, 1)[0]
    for _ in range(4):
        taken = client.post("/api/v1/holds", {"slot_id": slot_id}, API)
        assert client.delete(f"/api/v1/holds/{taken.json()['id']}").status_code == 204
    refused = client.post("/api/v1/holds", {"slot_id": slot_id}, API)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    assert "Réessayez dans" in refused.json()["detail"]


def test_the_portal_says_why_a_hold_was_refused(client, session, settings):
    settings.LIMIT_HOLDS_PER_CLIENT = "1/600"
    first, second = slots_of(session, 2)
    client.post("/reserver/", {"slot": first, "site": session.site_id})
    page = client.post("/reserver/", {"slot": second, "site": session.site_id}, follow=True)
    assert "Réessayez dans" in page.content.decode()
    # The hold the person had is kept.
    assert list(Hold.objects.values_list("slot_id", flat=True)) == [first]


# Codes -----------------------------------------------------------------------------------


def ask_code(client, phone: str = "06 12 34 56 78", **extra):
    return client.post("/api/v1/contacts/verifications", {"phone": phone}, API, **extra)


def test_codes_to_one_number_are_limited_per_hour_beyond_one_a_minute(client, db, settings):
    settings.LIMIT_CODES_PER_NUMBER = "2/3600"
    assert ask_code(client).status_code == 201
    # Too soon: the one-a-minute rule answers, and it costs nothing of the hour's two.
    assert ask_code(client).status_code == 429
    ContactVerification.objects.update(confirmed_at="2026-01-01T00:00Z")
    # (a used code frees the next at once)
    from creneau.booking.models import Contact

    Contact.objects.update(code_sent_at=None)
    assert ask_code(client).status_code == 201
    Contact.objects.update(code_sent_at=None)
    refused = ask_code(client)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "Trop de codes envoyés à ce numéro" in refused.json()["detail"]
    assert Notification.objects.filter(kind="verification_code").count() == 2


def test_one_address_asking_codes_for_many_numbers_is_stopped(client, db, settings):
    settings.LIMIT_CODES_PER_ADDRESS = "5/3600"
    answers = [ask_code(client, f"06 12 34 56 {n:02d}").status_code for n in range(8)]
    assert answers == [201] * 5 + [429] * 3
    assert Notification.objects.filter(kind="verification_code").count() == 5
    assert ask_code(client, "06 12 34 56 99", REMOTE_ADDR="10.1.1.1").status_code == 201


def test_the_service_sends_no_more_sms_a_minute_than_its_budget(client, db, settings):
    settings.LIMIT_SMS_PER_MINUTE = "3/60"
    answers = [
        ask_code(client, f"06 12 34 56 {n:02d}", REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(5)
    ]
    assert answers == [201] * 3 + [429] * 2
    # E-mails are not SMS: they go on.
    email = client.post(
        "/api/v1/contacts/verifications",
        {"email": "jeanne@example.fr"},
        API,
        REMOTE_ADDR="10.2.0.1",
    )
    assert email.status_code == 201


@pytest.mark.parametrize("phone", ["+32 470 12 34 56", "+44 7400 123456"])
def test_sms_go_to_french_numbers_only(client, db, phone):
    refused = ask_code(client, phone)
    assert refused.status_code == 400
    assert "portables français" in refused.json()["detail"]
    assert not Notification.objects.exists()


@pytest.mark.parametrize("phone", ["+262 692 12 34 56", "+590 690 12 34 56", "06 12 34 56 78"])
def test_french_numbers_overseas_included_get_their_code(client, db, phone):
    assert ask_code(client, phone).status_code == 201


def test_sms_abroad_when_the_operator_allows_it(client, db, settings):
    settings.SMS_REGIONS = frozenset({"FR", "BE"})
    assert ask_code(client, "+32 470 12 34 56").status_code == 201


# Bookings --------------------------------------------------------------------------------


def test_bookings_tried_with_one_contact_are_limited_per_day(client, session, settings):
    settings.LIMIT_BOOKINGS_PER_CONTACT = "2/86400"
    token = contact_token_issue(contact=verified_contact())
    answers = []
    for n, slot_id in enumerate(slots_of(session, 3)):
        hold = client.post("/api/v1/holds", {"slot_id": slot_id}, API).json()
        answers.append(
            client.post(
                "/api/v1/bookings",
                {
                    "hold_id": hold["id"],
                    "contact_token": token,
                    "person": {
                        "given_name": f"Personne {n}",
                        "family_name": "Martin",
                        "birth_date": "1940-01-01",
                    },
                },
                API,
                HTTP_IDEMPOTENCY_KEY=f"key-number-{n}",
            )
        )
    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert "Retry-After" in answers[2]
    assert Series.objects.count() == 2


def test_already_booked_elsewhere_is_a_plain_refusal_and_frees_the_hold(client, session):
    someone = PersonData(given_name="Jeanne", family_name="Martin", birth_date=date(1940, 1, 1))
    first, second = slots_of(session, 2)
    booking_confirm(
        hold_id=hold_create(slot_id=first).hold.pk, contact=verified_contact(), person=someone
    )
    hold = client.post("/api/v1/holds", {"slot_id": second}, API).json()
    refused = client.post(
        "/api/v1/bookings",
        {
            "hold_id": hold["id"],
            "contact_token": contact_token_issue(contact=verified_contact("+33698765432")),
            "person": {"given_name": "Jeanne", "family_name": "Martin", "birth_date": "1940-01-01"},
        },
        API,
        HTTP_IDEMPOTENCY_KEY="another-phone-1",
    )
    assert refused.status_code == 409
    assert "déjà un rendez-vous en cours" not in refused.json()["detail"]
    assert not Hold.objects.filter(pk=hold["id"]).exists()
    assert session.slots.get(pk=second).booked == 0


# Redis -----------------------------------------------------------------------------------


def test_counters_live_in_redis_when_it_is_configured(db, with_redis):
    assert counter_add(key="k", window=60, now=120.0).hits == 1
    assert counter_add(key="k", window=60, now=130.0).hits == 2
    assert not Counter.objects.exists()


def test_limits_go_on_in_the_database_when_redis_stops(db, with_redis, settings):
    settings.LIMIT_CODES_PER_ADDRESS = "3/3600"
    settings.REDIS_TIMEOUT = 0.2
    limit_hit(name="codes_per_address", key="10.0.0.1")
    with_redis.stop()
    # The next hits are counted in the database: the limit still holds, nothing fails.
    limit_hit(name="codes_per_address", key="10.0.0.1")
    limit_hit(name="codes_per_address", key="10.0.0.1")
    limit_hit(name="codes_per_address", key="10.0.0.1")
    with pytest.raises(TooManyRequests):
        limit_hit(name="codes_per_address", key="10.0.0.1")
    assert Counter.objects.exists()


def test_live_hold_limits_set_to_zero_are_off(client, session, settings):
    settings.HOLDS_PER_CLIENT = 0
    settings.HOLDS_PER_ADDRESS = 0
    for slot_id in slots_of(session, 3):
        assert client.post("/api/v1/holds", {"slot_id": slot_id}, API).status_code == 201
    assert Hold.objects.count() == 3
