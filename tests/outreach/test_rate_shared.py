"""The sending rate of a channel is shared by every worker: two processes sending at once
together stay within it (admission's counters: in the database without Redis, in Redis
when it is configured)."""

import pytest

from creneau.admission.models import Counter
from creneau.outreach.models import Notification
from creneau.outreach.services import notification_enqueue
from tests.concurrency.racers import race_processes

pytestmark = pytest.mark.concurrency

RATE = 20
SECONDS = 4.0


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_workers_together_send_no_more_than_the_rate(transactional_db, request, store):
    redis_url = request.getfixturevalue("redis_up").url if store == "redis" else ""
    for number in range(400):
        notification_enqueue(
            channel="sms",
            to=f"+336{number:08d}",
            kind=Notification.Kind.VERIFICATION_CODE,
            event=f"verification:{number}",
            context={"code": "123456", "minutes": 10},
        )
    results = race_processes(
        2, "tests.outreach.backends.send_at_rate_for", lambda _i: (SECONDS, RATE, redis_url)
    )
    assert [status for status, _ in results] == ["ok", "ok"]
    sent = sorted(moment for _, moments in results for moment in moments)
    assert len(sent) == Notification.objects.filter(status="sent").count()
    windows = int(sent[-1]) - int(sent[0]) + 1
    # Each one-second window sends at most RATE between the two (one window of slack for
    # a message counted in one second and handed over in the next); alone, each process
    # would send RATE a second, twice as many together. The first and last windows are
    # partly run.
    assert RATE * (windows - 2) <= len(sent) <= RATE * (windows + 1)
    assert windows >= 3
    both = [len(moments) for _, moments in results]
    assert min(both) > 0  # both sent: the rate was shared, not taken by one
    counted_here = Counter.objects.filter(key__startswith="outbox:rate:").exists()
    assert counted_here == (store == "database")
