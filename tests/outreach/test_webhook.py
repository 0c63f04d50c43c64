"""The SMS provider's webhook: a receipt marks an SMS delivered or failed (a failed one
goes on to its fallback), "STOP" opts the number out; a request not signed with our
secret, or signed too long ago, is refused 403, logged, and changes nothing."""

import json
import logging
import time

import pytest
from django.utils import timezone

from creneau.outreach.models import Notification, OptOut
from creneau.outreach.services import notification_enqueue, outbox_send
from creneau.outreach.webhooks import SIGNATURE_HEADER, webhook_signature

SECRET = "webhook-secret-for-tests"
PHONE = "+33612345678"
URL = "/webhooks/sms"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.SMS_WEBHOOK_SECRET = SECRET


def post(client, payload, *, secret: str = SECRET, at: float | None = None, header=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = webhook_signature(
        body=body, timestamp=int(time.time() if at is None else at), secret=secret
    )
    headers = {} if header is False else {SIGNATURE_HEADER: header or signature}
    return client.post(URL, body, content_type="application/json", headers=headers)


def sent_sms(*, fallbacks=()) -> Notification:
    row = notification_enqueue(
        channel="sms",
        to=PHONE,
        kind="booking_confirmed",
        event="series:7K2MQ9XA4:v1:booking_confirmed",
        context={"person_name": "Jeanne Martin", "reference": "7K2M-Q9XA", "appointments": []},
        fallbacks=fallbacks,
    )
    assert outbox_send().sent == 1
    row.refresh_from_db()
    return row


def receipt(row: Notification, status: str, error: str = "") -> dict:
    return {
        "events": [{"type": "receipt", "reference": str(row.pk), "status": status, "error": error}]
    }


def test_a_signed_receipt_marks_the_sms_delivered_once(client, db, sms_outbox):
    row = sent_sms()
    answer = post(client, receipt(row, "delivered"))
    assert answer.status_code == 200
    assert answer.json() == {"receipts": 1, "opted_out": 0, "ignored": 0}
    row.refresh_from_db()
    assert row.status == "delivered" and row.receipt_at is not None
    # The provider sends it again: nothing changes.
    assert post(client, receipt(row, "delivered")).json() == {
        "receipts": 0,
        "opted_out": 0,
        "ignored": 1,
    }


def test_a_failed_receipt_fails_the_sms_and_enqueues_its_fallback_once(client, db, sms_outbox):
    row = sent_sms(fallbacks=[("email", "jeanne@example.org")])
    assert post(client, receipt(row, "failed", "unreachable")).json()["receipts"] == 1
    post(client, receipt(row, "failed", "unreachable"))  # replayed within the tolerance
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("failed", "receipt: unreachable")
    (fallback,) = Notification.objects.filter(fallback_of=row)
    assert (fallback.channel, fallback.to, fallback.status) == (
        "email",
        "jeanne@example.org",
        "pending",
    )


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "no header", "malformed header", "too old", "from the future", "no secret"],
)
def test_a_request_not_signed_by_the_provider_is_refused_logged_and_changes_nothing(
    client, db, sms_outbox, settings, caplog, how
):
    row = sent_sms()
    payload = {
        "events": [
            {"type": "receipt", "reference": str(row.pk), "status": "failed"},
            {"type": "inbound", "from": PHONE, "text": "STOP"},
        ]
    }
    options = {
        "wrong secret": {"secret": "not-the-secret"},
        "no header": {"header": False},
        "malformed header": {"header": "v1=abc"},
        "too old": {"at": time.time() - settings.SMS_WEBHOOK_TOLERANCE_SECONDS - 5},
        "from the future": {"at": time.time() + settings.SMS_WEBHOOK_TOLERANCE_SECONDS + 5},
        "no secret": {},
    }[how]
    if how == "no secret":
        settings.SMS_WEBHOOK_SECRET = ""
    with caplog.at_level(logging.WARNING, logger="creneau.outreach.webhooks"):
        answer = post(client, payload, **options)
    assert answer.status_code == 403
    assert answer.json()["code"] == "signature_invalid"
    assert any("sms webhook refused" in record.getMessage() for record in caplog.records)
    row.refresh_from_db()
    assert row.status == "sent"
    assert not OptOut.objects.exists()


def test_the_body_signed_is_the_body_checked(client, db, sms_outbox):
    row = sent_sms()
    signed = json.dumps(receipt(row, "delivered")).encode()
    header = webhook_signature(body=signed, timestamp=int(time.time()), secret=SECRET)
    answer = post(client, json.dumps(receipt(row, "failed")).encode(), header=header)
    assert answer.status_code == 403
    row.refresh_from_db()
    assert row.status == "sent"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        json.dumps([1, 2]).encode(),
        json.dumps({"events": "all"}).encode(),
        json.dumps({"events": [{"type": "receipt", "reference": "1", "status": "lost"}]}).encode(),
        json.dumps({"events": [{"type": "receipt", "reference": 1, "status": "failed"}]}).encode(),
        json.dumps({"events": [{"type": "party"}]}).encode(),
        json.dumps({"events": [{"type": "inbound", "from": 33612345678, "text": "STOP"}]}).encode(),
    ],
)
def test_a_signed_body_that_does_not_parse_is_a_400_and_changes_nothing(
    client, db, sms_outbox, body
):
    row = sent_sms()
    answer = post(client, body)
    assert answer.status_code == 400
    assert answer.json()["detail"]
    row.refresh_from_db()
    assert row.status == "sent"


def test_one_bad_event_refuses_the_whole_request(client, db, sms_outbox):
    row = sent_sms()
    payload = receipt(row, "delivered")
    payload["events"].append({"type": "receipt", "reference": "2"})
    assert post(client, payload).status_code == 400
    row.refresh_from_db()
    assert row.status == "sent"


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop merci", "ARRÊT", "arret"])
def test_stop_opts_the_number_out(client, db, text):
    payload = {"events": [{"type": "inbound", "from": "06 12 34 56 78", "text": text}]}
    assert post(client, payload).json()["opted_out"] == 1
    reminder = notification_enqueue(
        channel="sms",
        to=PHONE,
        kind="appointment_reminder",
        event="reminder:1",
        context={},
        not_before=timezone.now(),
    )
    assert reminder.status == Notification.Status.OPTED_OUT


@pytest.mark.parametrize("text", ["Merci !", "", "Pas stop"])
def test_another_answer_opts_nobody_out(client, db, text):
    payload = {"events": [{"type": "inbound", "from": PHONE, "text": text}]}
    assert post(client, payload).json() == {"receipts": 0, "opted_out": 0, "ignored": 1}
    assert not OptOut.objects.exists()


def test_a_receipt_for_an_unknown_or_non_sms_message_changes_nothing(client, db, sms_outbox):
    email = notification_enqueue(
        channel="email",
        to="jeanne@example.org",
        kind="verification_code",
        event="verification:1",
        context={"code": "1", "minutes": 10},
    )
    outbox_send()
    events = [
        {"type": "receipt", "reference": str(email.pk), "status": "failed"},
        {"type": "receipt", "reference": "999999", "status": "delivered"},
        {"type": "receipt", "reference": "abc", "status": "delivered"},
    ]
    assert post(client, {"events": events}).json()["ignored"] == 3
    email.refresh_from_db()
    assert email.status == "sent"


def test_only_post_is_answered(client, db):
    assert client.get(URL).status_code == 405
