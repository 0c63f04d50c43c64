"""The outbox keeps a message's template and parameters, never a code, a key or the text:
the worker makes them when it sends (again the same after a retry), and a copy of the
database opens nothing."""

import re

import pytest
from django.db import connection

from creneau.booking.addresses import PostalAddress
from creneau.booking.models import Cancellation
from creneau.booking.services import (
    booking_confirm,
    cancellation_create,
    contact_for_agent,
    contact_verification_confirm,
    contact_verification_start,
    hold_create,
)
from creneau.booking.tokens import management_token, reference_display
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret, notification_redacted, notification_render
from creneau.outreach.services import notification_enqueue, outbox_send
from tests.factories import STAFF, person, two_dose_site, verified_contact
from tests.outreach.backends import script, temporary

PHONE = "+33612345678"


def database_text() -> str:
    """Every value of every table, as a copy of the database would show it."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            values.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(values)


def code_sent(sms_outbox) -> str:
    return re.search(r"\b(\d{6})\b", sms_outbox[-1].text)[1]


def test_a_code_is_stored_nowhere_but_sent_and_it_confirms(db, sms_outbox):
    verification = contact_verification_start(phone="06 12 34 56 78")
    row = Notification.objects.get(kind="verification_code")
    assert row.derived == {"code": ["verification_code", str(verification.pk)]}
    assert row.parameters == {"minutes": 10}

    assert outbox_send().sent == 1
    code = code_sent(sms_outbox)

    assert code not in database_text()
    assert contact_verification_confirm(verification_id=str(verification.pk), code=code)


def test_a_code_sent_after_a_failure_is_the_same_code(db, sms_outbox):
    verification = contact_verification_start(phone="06 12 34 56 78")
    row = Notification.objects.get()
    script[PHONE] = [temporary("HTTP 503")]
    assert outbox_send().retried == 1
    row.refresh_from_db()

    assert outbox_send(now=row.next_attempt_at).sent == 1

    assert len(sms_outbox) == 1  # the scripted failure took nothing
    rendered_before = notification_render(notification=row).body
    assert code_sent(sms_outbox) in rendered_before
    assert contact_verification_confirm(
        verification_id=str(verification.pk), code=code_sent(sms_outbox)
    )


def test_a_booking_s_messages_hold_no_key_and_send_it_in_the_link_s_fragment(reference, sms_outbox):
    site, session = two_dose_site()
    slot = session.slots.order_by("start").first()
    result = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact(PHONE),
        person=person(),
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=session.pk,
        reason="Livraison retardée.",
    )
    series = result.series
    key = management_token(reference=series.reference, salt=series.token_salt)
    confirmed = Notification.objects.get(kind="booking_confirmed")
    assert confirmed.derived == {"manage_url": ["management_link", series.reference]}

    assert outbox_send().sent == 2

    # The worker takes a batch in random order.
    confirmation, cancellation = sorted(
        (sms.text for sms in sms_outbox), key=lambda text: "annulés" in text
    )
    display = reference_display(series.reference)
    assert f"/rendez-vous/{display}/ouvrir/#cle={key}" in confirmation
    rebook_key = re.search(r"/reprendre/ouvrir/#cle=(\S+)", cancellation)[1]
    stored = database_text()
    assert key not in stored and rebook_key not in stored
    assert "Livraison retardée." in cancellation
    assert not Notification.objects.filter(status="pending").exists()


def test_a_letter_carries_no_link(reference):
    _site, session = two_dose_site()
    contact = contact_for_agent(
        postal=PostalAddress(street="3 rue des Lilas", postcode="75017", town="Paris")
    )
    booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk).hold.pk,
        contact=contact,
        person=person(),
    )
    letter = Notification.objects.get(channel="letter")
    assert letter.derived == {}
    assert "http" not in notification_render(notification=letter).body


def test_staff_see_what_was_sent_not_its_text(db):
    contact_verification_start(phone="06 12 34 56 78")
    row = Notification.objects.get()
    assert notification_redacted(notification=row) == (
        "Code de vérification (le code n'est pas conservé)"
    )


def test_a_secret_nobody_declared_is_refused_when_written(db):
    with pytest.raises(LookupError):
        notification_enqueue(
            channel="sms",
            to=PHONE,
            kind="verification_code",
            event="verification:x",
            context={"code": Secret("unknown", "1")},
        )
    assert not Notification.objects.exists()


def test_a_message_whose_booking_is_gone_fails_at_once(db, sms_outbox):
    notification_enqueue(
        channel="sms",
        to=PHONE,
        kind="booking_moved",
        event="series:GONE:v2:booking_moved",
        context={
            "reference": "GONE",
            "appointments": [],
            "manage_url": Secret("management_link", "ABCDEFGH0"),
        },
    )

    report = outbox_send()

    assert (report.failed, report.retried, sms_outbox) == (1, 0, [])
    assert Notification.objects.get().last_error == (
        "the booking this message links to no longer exists"
    )
