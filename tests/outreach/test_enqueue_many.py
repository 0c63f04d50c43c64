"""notifications_enqueue_many writes the rows notification_enqueue would, one query for
the opt-outs and one INSERT for the rows."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from creneau.outreach.models import Notification, OptOut
from creneau.outreach.rendering import Secret
from creneau.outreach.services import (
    OutboxMessage,
    notification_enqueue,
    notifications_enqueue_many,
    optout_record,
)
from tests.outreach.test_delivery import PARIS, daytime

# Every field a caller decides or the rules derive; the id and created_at differ.
COMPARED = [
    field.name
    for field in Notification._meta.concrete_fields
    if field.name not in ("id", "created_at")
]


def _messages(suffix: str) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            channel="sms",
            to="+33612345678",
            kind="invitation",
            event=f"invitation:1:0{suffix}",
            context={"person_name": "Jeanne Martin", "code": Secret("management_link", "AB0")},
            fallbacks=[("email", "jeanne@example.org"), ("letter", "Jeanne\n1 rue X")],
        ),
        OutboxMessage(
            channel="email",
            to="opted@example.org",
            kind="invitation_reminder",
            event=f"invitation:2:1{suffix}",
            context={"person_name": "Paul Durand"},
            language="en",
        ),
        OutboxMessage(
            channel="letter",
            to="Paul DURAND\n2 rue Y\n75001 PARIS",
            kind="invitation",
            event=f"invitation:3:0{suffix}",
            context={"person_name": "Paul Durand"},
        ),
        # Not optional: sent even to an address that opted out, at once.
        OutboxMessage(
            channel="email",
            to="opted@example.org",
            kind="booking_confirmed",
            event=f"booking:4{suffix}",
            context={"person_name": "Paul Durand"},
        ),
        OutboxMessage(
            channel="sms",
            to="+33698765432",
            kind="appointment_reminder",
            event=f"reminder:5{suffix}",
            context={},
            priority=1,
            not_before=datetime(2030, 1, 1, 9, tzinfo=PARIS),
        ),
    ]


def _one_by_one(messages: list[OutboxMessage]) -> list[Notification]:
    return [notification_enqueue(**vars(message)) for message in messages]


def _fields(notification: Notification) -> dict:
    row = Notification.objects.get(pk=notification.pk)  # as stored, decrypted again
    values = {name: getattr(row, name) for name in COMPARED}
    values["event"] = values["event"].removesuffix("+many")
    return values


@pytest.mark.django_db
@pytest.mark.parametrize("moment", ["day", "night"])
def test_the_rows_are_those_of_the_one_by_one_path(moment, time_machine_now):
    now = daytime() if moment == "day" else daytime() + timedelta(hours=11)  # 23:00
    time_machine_now(now)
    optout_record(address="opted@example.org", source=OptOut.Source.STOP)
    single = _one_by_one(_messages(""))
    many = notifications_enqueue_many(messages=_messages("+many"))
    assert [n.pk for n in many] == sorted(n.pk for n in many)
    assert [_fields(n) for n in many] == [_fields(n) for n in single]
    statuses = [n.status for n in many]
    assert statuses == ["pending", "opted_out", "pending", "pending", "pending"]
    if moment == "night":  # invitations wait out the quiet hours; letters and others not
        assert many[0].next_attempt_at > now
        assert many[2].next_attempt_at == now and many[3].next_attempt_at == now


@pytest.mark.django_db
def test_a_batch_reads_the_opt_outs_once_and_inserts_once():
    for address in ("a@example.org", "c@example.org"):
        optout_record(address=address, source=OptOut.Source.LINK)
    messages = [
        OutboxMessage(
            channel="email",
            to=f"{name}@example.org",
            kind="invitation",
            event=f"i:{name}",
            context={},
        )
        for name in "abcdef"
    ]
    with CaptureQueriesContext(connection) as queries:
        written = notifications_enqueue_many(messages=messages)
    assert len(queries) == 2, [query["sql"] for query in queries]
    assert [n.status for n in written] == [
        "opted_out",
        "pending",
        "opted_out",
        "pending",
        "pending",
        "pending",
    ]
    assert notifications_enqueue_many(messages=[]) == []
