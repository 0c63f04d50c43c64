"""Messages written before they were rendered at sending time: the migration keeps those
not sent yet sendable, and every letter printable, with their text; the text of the SMS
and e-mails already sent goes."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.outreach.services import outbox_send

BEFORE = [("outreach", "0004_worker_heartbeat")]
AFTER = [("outreach", "0005_rendered_when_sent")]


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

    migrate(AFTER)

    pending, sent, letter = Notification.objects.order_by("event")
    assert sent.parameters == {} and "654321" not in str(sent.parameters)
    assert notification_render(notification=letter).body == "Courrier"
    assert outbox_send().sent == 1
    assert [sms.text for sms in sms_outbox] == ["Votre code : 123456"]
    pending.refresh_from_db()
    assert (pending.status, pending.parameters) == ("sent", {})
