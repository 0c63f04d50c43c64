"""Messages written before they were rendered at sending time: the migration keeps those
not sent yet sendable, and every letter printable, with their text; the text of the SMS
and e-mails already sent goes. Then the outbox encrypted at rest (0006-0008): recipients
and template values sealed, found again by the recipient's blind index, and opened again
going back."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.outreach.selectors import outbox_list
from creneau.outreach.services import outbox_send

BEFORE = [("outreach", "0004_worker_heartbeat")]
RENDERED = [("outreach", "0005_rendered_when_sent")]
LATEST = [("outreach", "0009_delivery")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def test_pending_rows_stay_sendable_and_sent_texts_go(transactional_db, sms_outbox):
    executor = migrate(BEFORE)
    Old = executor.loader.project_state(BEFORE).apps.get_model("outreach", "Notification")
    common = {"to": "+33612345678", "kind": "verification_code", "language": "fr"}
    Old.objects.create(**common, channel="sms", event="e1", body="Votre code : 123456")
    Old.objects.create(**common, channel="sms", event="e2", body="Code 654321", status="sent")
    Old.objects.create(
        **common, channel="letter", event="e3", body="Courrier", status="sent", subject=""
    )

    migrate(LATEST)

    pending, sent, letter = Notification.objects.order_by("event")
    assert sent.parameters == {} and "654321" not in str(sent.parameters)
    assert notification_render(notification=letter).body == "Courrier"
    assert outbox_send().sent == 1
    assert [sms.text for sms in sms_outbox] == ["Votre code : 123456"]
    pending.refresh_from_db()
    assert (pending.status, pending.parameters) == ("sent", {})


def _raw(column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM outreach_notification ORDER BY event')
        return [str(value) for (value,) in cursor.fetchall()]


def test_the_outbox_is_sealed_and_opened_again_going_back(transactional_db):
    executor = migrate(RENDERED)
    Old = executor.loader.project_state(RENDERED).apps.get_model("outreach", "Notification")
    common = {"kind": "booking_confirmed", "language": "fr", "channel": "sms"}
    Old.objects.create(
        **common, to="+33612345678", event="e1", parameters={"person_name": "Zéphyrine Ozanne"}
    )
    Old.objects.create(**common, to="Jane@Example.org", event="e2", parameters={})

    migrate(LATEST)

    assert all(value.startswith("v1:") for value in _raw("to") + _raw("parameters"))
    assert not any("Ozanne" in value or "33612345678" in value for value in _raw("parameters"))
    first, second = Notification.objects.order_by("event")
    assert (first.to, first.parameters) == ("+33612345678", {"person_name": "Zéphyrine Ozanne"})
    assert (second.to, second.parameters) == ("Jane@Example.org", {})
    assert [n.pk for n in outbox_list(to="+33612345678")] == [first.pk]
    # The comparison form of the contacts: an e-mail address whatever its case.
    assert [n.pk for n in outbox_list(to="jane@example.org")] == [second.pk]

    executor = migrate(RENDERED)
    Old = executor.loader.project_state(RENDERED).apps.get_model("outreach", "Notification")
    assert [(n.to, n.parameters) for n in Old.objects.order_by("event")] == [
        ("+33612345678", {"person_name": "Zéphyrine Ozanne"}),
        ("Jane@Example.org", {}),
    ]
    migrate(LATEST)
