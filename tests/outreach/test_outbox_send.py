"""Delivery of the outbox: each message sent once, failures retried with backoff, then
given up with their error kept; letters left for printing; a dead worker's claim taken
again."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from creneau.booking.services import booking_confirm, hold_create
from creneau.booking.tokens import one_time_code, reference_display
from creneau.outreach.models import WORKER_ROWS, Notification
from creneau.outreach.rendering import notification_render
from creneau.outreach.services import CLAIM_TIMEOUT, MAX_ATTEMPTS, RETRY_DELAYS, outbox_send
from tests.factories import person, two_dose_site, verified_contact
from tests.outreach.backends import permanent, script, temporary

PHONE = "+33612345678"


def message(to: str = PHONE, *, channel: str = "sms", number: int = 1) -> Notification:
    return Notification.objects.create(
        channel=channel,
        to=to,
        kind=Notification.Kind.VERIFICATION_CODE,
        event=f"verification:{channel}:{to}:{number}",
        parameters={"minutes": 10},
        derived={"code": ["verification_code", f"verification-{number}"]},
    )


def code_of(number: int) -> str:
    return one_time_code(verification_id=f"verification-{number}")


def test_an_sms_and_an_email_are_sent_once_and_marked_sent(db, sms_outbox, settings):
    sms = message()
    email = message("jeanne@example.org", channel="email")
    now = timezone.now()

    report = outbox_send(now=now)

    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    text = (
        f"Créneau : votre code de vérification est {code_of(1)}. Il est valable 10 minutes. "
        "Ne le communiquez à personne."
    )
    assert [(s.to, s.text, s.sender) for s in sms_outbox] == [(PHONE, text, settings.SMS_SENDER)]
    (sent_mail,) = mail.outbox
    assert (sent_mail.to, sent_mail.subject, sent_mail.body, sent_mail.from_email) == (
        ["jeanne@example.org"],
        f"Votre code Créneau : {code_of(1)}",
        text,
        settings.DEFAULT_FROM_EMAIL,
    )
    for row in (sms, email):
        row.refresh_from_db()
        assert (row.status, row.attempts, row.sent_at, row.claimed_at) == ("sent", 1, now, now)
    assert outbox_send(now=now + timedelta(days=1)).deliveries == []
    assert len(sms_outbox) == 1 and len(mail.outbox) == 1


def test_a_provider_failure_is_retried_after_1_then_5_minutes(db, sms_outbox):
    row = message()
    now = timezone.now()
    script[PHONE] = [temporary("HTTP 503: down"), temporary("HTTP 503: still down")]

    assert outbox_send(now=now).retried == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503: down")
    assert row.next_attempt_at == now + timedelta(minutes=1) == now + RETRY_DELAYS[0]

    assert outbox_send(now=now + timedelta(seconds=59)).deliveries == []
    assert outbox_send(now=now + timedelta(minutes=1)).retried == 1
    row.refresh_from_db()
    assert row.next_attempt_at == now + timedelta(minutes=1 + 5)

    assert outbox_send(now=now + timedelta(minutes=5)).deliveries == []
    assert outbox_send(now=now + timedelta(minutes=6)).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert len(sms_outbox) == 1


def test_a_permanent_failure_is_not_retried(db, sms_outbox):
    row = message()
    now = timezone.now()
    script[PHONE] = [permanent("HTTP 400: not a mobile number")]

    assert outbox_send(now=now).failed == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "HTTP 400: not a mobile number",
    )
    assert outbox_send(now=now + timedelta(days=1)).deliveries == []
    assert sms_outbox == []


def test_after_the_last_attempt_the_message_has_failed_with_its_last_error(db, sms_outbox):
    row = message()
    now = timezone.now()
    script[PHONE] = [temporary(f"down {n}") for n in range(1, 10)]

    outcomes = []
    for _ in range(MAX_ATTEMPTS + 2):
        report = outbox_send(now=now)
        outcomes += [d.outcome for d in report.deliveries]
        row.refresh_from_db()
        now = row.next_attempt_at

    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        MAX_ATTEMPTS,
        f"down {MAX_ATTEMPTS}",
    )
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("address", "status", "error"),
    [
        ("refused@example.org", "failed", "SMTP refused the address"),
        ("busy@example.org", "pending", "SMTP 451: Try again later"),
        ("hangs-up@example.org", "pending", "SMTP: SMTPServerDisconnected"),
    ],
)
def test_smtp_refusals_fail_for_good_and_smtp_trouble_is_retried(
    db, settings, address, status, error
):
    settings.EMAIL_BACKEND = "tests.outreach.backends.RefusingEmailBackend"
    row = message(address, channel="email")
    outbox_send()
    row.refresh_from_db()
    assert row.status == status
    assert row.last_error.startswith(error)


def test_one_failing_message_does_not_stop_the_batch(db, sms_outbox):
    rows = [message(f"+3361234567{n}") for n in range(3)]
    script["+33612345671"] = [RuntimeError("a bug in a backend")]

    report = outbox_send()

    assert (report.sent, report.retried) == (2, 1)
    assert sorted(s.to for s in sms_outbox) == ["+33612345670", "+33612345672"]
    broken = Notification.objects.get(pk=rows[1].pk)
    assert (broken.status, broken.last_error) == ("pending", "RuntimeError: a bug in a backend")


def test_letters_stay_pending_and_do_not_take_the_places_of_a_batch(db, sms_outbox):
    for number in range(150):
        message(f"1 rue de la Paix {number}", channel="letter", number=number)
    message()

    report = outbox_send(limit=100)

    assert [d.channel for d in report.deliveries] == ["sms"]
    letters = Notification.objects.filter(channel="letter")
    assert letters.filter(status="pending", attempts=0).count() == 150


def test_a_claim_left_by_a_dead_worker_is_taken_again_after_the_timeout(db, sms_outbox):
    row = message()
    now = timezone.now()
    # The worker process dies while the provider is answering: nothing records it.
    script[PHONE] = [SystemExit("killed")]
    with pytest.raises(SystemExit):
        outbox_send(now=now)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, now)

    assert outbox_send(now=now + CLAIM_TIMEOUT - timedelta(seconds=1)).deliveries == []
    later = now + CLAIM_TIMEOUT
    assert outbox_send(now=later).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.claimed_at) == ("sent", 2, later)
    assert len(sms_outbox) == 1


def test_a_dead_worker_on_the_last_attempt_leaves_a_failure_not_one_more_send(db, sms_outbox):
    row = message()
    now = timezone.now()
    Notification.objects.filter(pk=row.pk).update(
        status="sending", attempts=MAX_ATTEMPTS, claimed_at=now, next_attempt_at=now
    )
    assert outbox_send(now=now).failed == 1
    row.refresh_from_db()
    assert row.status == "failed" and "stopped" in row.last_error
    assert sms_outbox == []


def test_the_worker_reads_the_partial_index_of_due_rows(db):
    query = (
        Notification.objects.filter(WORKER_ROWS, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at", "id")
        .values_list("pk", "attempts")[:100]
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # An empty table is cheapest to scan: ask whether the index can serve at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
    assert "outbox_due" in query.explain()


def test_a_booking_then_a_batch_delivers_its_confirmation_by_sms(reference, sms_outbox):
    _site, session = two_dose_site()
    contact = verified_contact(PHONE)
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    booking = booking_confirm(
        hold_id=hold.pk, contact=contact, person=person(), idempotency_key="e2e-key-1"
    )

    report = outbox_send()

    assert [(d.kind, d.outcome) for d in report.deliveries] == [("booking_confirmed", "sent")]
    (sent,) = sms_outbox
    assert sent.to == PHONE
    assert sent.text.startswith("Créneau : rendez-vous confirmé pour Jeanne Martin.")
    assert f"Référence : {reference_display(booking.series.reference)}." in sent.text
    row = Notification.objects.get(kind="booking_confirmed")
    assert row.status == "sent" and notification_render(notification=row).body == sent.text
