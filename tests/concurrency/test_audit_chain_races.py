"""Many threads and processes recording audit events at the same instant: every event is
chained once, no chain has a gap or a number twice, no append waited for a deadlock's
retry, and `audit_verify` finds nothing (SQLite and PostgreSQL)."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Max

from creneau.audit.models import AuditEvent, ChainHead, ChainLink
from creneau.audit.selectors import audit_chain_verify
from tests.concurrency.racers import race_processes, race_threads
from tests.concurrency.test_staff_action_races import assert_no_failure, retries  # noqa: F401
from tests.concurrency.workers import audit_record_many

pytestmark = pytest.mark.concurrency


def assert_chains_whole(expected: int) -> None:
    assert AuditEvent.objects.count() == ChainLink.objects.count() == expected
    for chain in ChainLink.objects.values("day", "shard").annotate(n=Count("id"), last=Max("seq")):
        # Numbers 1..n, each once (the place is unique): no gap, no double.
        assert chain["n"] == chain["last"], chain
        head = ChainHead.objects.get(day=chain["day"], shard=chain["shard"])
        assert head.seq == chain["n"]
    assert audit_chain_verify().findings == []
    call_command("audit_verify")


def test_threads_recording_at_once_leave_whole_chains(transactional_db, retries):  # noqa: F811
    results = race_threads(12, lambda worker: audit_record_many(worker, 10))
    assert_no_failure(results, retries)
    assert_chains_whole(12 * 3 * 10)


def test_processes_recording_at_once_leave_whole_chains(transactional_db):
    results = race_processes(4, "tests.concurrency.workers.audit_record_many", lambda i: (i, 25))
    assert all(status == "ok" for status, _ in results), results
    assert_chains_whole(4 * 3 * 25)
