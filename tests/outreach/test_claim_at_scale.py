"""A code asked for while 200,000 invitations wait is the first message taken, and the
claim's query reads it straight from the index (outbox_due_by_priority), on SQLite and
PostgreSQL. The time of the claim is printed (pytest -s), not asserted."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from creneau.outreach.models import Notification
from creneau.outreach.quiet import outbox_sendable
from creneau.outreach.services import notification_enqueue, outbox_send
from tests.outreach.test_delivery import daytime

WAITING = 200_000


def invitations_waiting(count: int) -> None:
    """`count` invitations due, copied in SQL from one written by the service (its sealed
    values open in any row of their column)."""
    first = notification_enqueue(
        channel="sms",
        to="+33600000000",
        kind=Notification.Kind.INVITATION,
        event="invitation:0",
        context={"code": "ABCD"},
    )
    table = Notification._meta.db_table
    columns = (
        'channel, "to", to_index, kind, language, parameters, derived, status, attempts, '
        "created_at, next_attempt_at, last_error, priority, fallbacks"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event, {columns}) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"SELECT 'invitation:' || CAST(n.i AS TEXT), {columns} FROM {table}, n "
            "WHERE id = %s",
            [count - 1, first.pk],
        )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")


@pytest.mark.concurrency
def test_a_code_is_claimed_first_while_200000_invitations_wait(transactional_db, sms_outbox):
    invitations_waiting(WAITING)
    code = notification_enqueue(
        channel="sms",
        to="+33612345678",
        kind=Notification.Kind.VERIFICATION_CODE,
        event="verification:1",
        context={"code": "123456", "minutes": 10},
    )
    now = max(daytime(), timezone.now() + timedelta(seconds=1))
    claim = (
        Notification.objects.filter(outbox_sendable(now))
        .order_by("priority", "next_attempt_at", "id")
        .values_list("pk", "attempts", "channel", "priority")
    )
    plan = claim[:100].explain()
    assert "outbox_due_by_priority" in plan, plan
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        page = list(claim[:100])
        timings.append(time.perf_counter() - started)
    assert page[0][0] == code.pk
    started = time.perf_counter()
    report = outbox_send(limit=100, now=now, seconds=0)
    took = time.perf_counter() - started
    assert [d.notification_id for d in report.deliveries] == [code.pk]
    assert [s.to for s in sms_outbox] == ["+33612345678"]
    print(
        f"\n{connection.vendor}: {WAITING} invitations waiting; the claim's page of 100 read "
        f"in {min(timings) * 1000:.2f} ms (best of 5, median "
        f"{sorted(timings)[2] * 1000:.2f} ms); the code read, claimed and sent in "
        f"{took * 1000:.1f} ms"
    )
