"""The tamper-evident audit log: every event is chained, and `audit_verify` names each
event altered, removed or inserted by someone who got past the append-only triggers
(the tests disable them, as a table's owner could), on SQLite and PostgreSQL; the
day's seals are logged, and checked too."""

import contextlib
import json
import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from creneau.audit import chain
from creneau.audit.models import APPEND_ONLY_TABLES, AuditEvent, ChainHead, ChainLink, Seal
from creneau.audit.selectors import audit_chain_verify
from creneau.audit.services import audit_record, audit_seal, audit_seal_due
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput
from creneau.sites.models import Site
from tests.factories import make_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor(db):
    return Actor(user=get_user_model().objects.create_user("agent"), ip="192.0.2.1")


@pytest.fixture
def events(actor):
    return [
        audit_record(actor=actor, action="view", object_type="booking.series", object_id=n)
        for n in range(1, 6)
    ]


@contextlib.contextmanager
def triggers_off():
    """What the owner of the tables can do: the append-only triggers out of the way, for
    this test's transaction only (DDL is transactional on both databases)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE waits for no deferred foreign-key check of this transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield cursor
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            return
        cursor.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'trigger' AND tbl_name IN (%s, %s, %s)",
            list(APPEND_ONLY_TABLES),
        )
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
        yield cursor
        for _, definition in triggers:
            cursor.execute(definition)


def findings(day=None) -> list[tuple[str, int | None]]:
    return [(finding.kind, finding.event_id) for finding in audit_chain_verify(day=day).findings]


# Chaining


def test_every_event_is_chained_in_order_and_verifies(reference):
    site = make_site()
    actor = Actor(user=None)
    first = audit_record(actor=actor, action="change", obj=site, details={"b": 1, "a": [1.5]})
    second = audit_record(actor=actor, action="view", summary="Liste du jour ‮ inversée")
    links = list(ChainLink.objects.order_by("seq"))
    assert [(link.event_id, link.seq) for link in links] == [(first.pk, 1), (second.pk, 2)]
    assert links[0].prev_hash == chain.GENESIS and links[1].prev_hash == links[0].hash
    head = ChainHead.objects.get(day=links[0].day, shard=links[0].shard)
    assert (head.seq, head.hash) == (2, links[1].hash)
    assert findings() == []
    call_command("audit_verify")


def test_every_column_of_an_event_is_hashed():
    assert set(chain.EVENT_FIELDS) == {field.attname for field in AuditEvent._meta.concrete_fields}


def test_in_a_unit_of_work_the_chains_head_is_locked_last(reference, actor):
    """The head's row lock is taken after everything the service did, just before
    COMMIT: its holder never waits for another lock, so it is in no deadlock."""
    site = make_site()

    @unit_of_work
    def service() -> None:
        audit_record(actor=actor, action="change", obj=site, site=site)
        Site.objects.filter(pk=site.pk).update(name="Renommé")

    with CaptureQueriesContext(connection) as queries:
        service()
    statements = [query["sql"] for query in queries.captured_queries]
    renamed = next(i for i, sql in enumerate(statements) if 'UPDATE "sites_site"' in sql)
    head = next(i for i, sql in enumerate(statements) if 'FROM "audit_chainhead"' in sql)
    assert renamed < head
    assert 'UPDATE "audit_chainhead"' in statements[-1] or "RELEASE SAVEPOINT" in statements[-1]
    assert findings() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's deferred checks")
def test_the_deferred_foreign_key_checks_come_before_the_chains_head(reference, actor):
    """A foreign key's check locks the row referred to (KEY SHARE): PostgreSQL defers it
    to COMMIT, which would put that lock after the head's. The unit of work makes it
    before: a dangling reference is refused before the head is even looked at."""

    @unit_of_work
    def service() -> None:
        audit_record(actor=actor, action="view", summary="lié")
        AuditEvent.objects.create(action="view", summary="orphelin", site_id=2**31 - 1)

    with CaptureQueriesContext(connection) as queries, pytest.raises(IntegrityError):
        service()
    assert not any("audit_chainhead" in query["sql"] for query in queries.captured_queries)


def test_an_event_rolled_back_with_a_savepoint_leaves_no_link(actor):
    @unit_of_work
    def service() -> None:
        audit_record(actor=actor, action="view", summary="gardé")
        with contextlib.suppress(RuntimeError), transaction.atomic():
            audit_record(actor=actor, action="view", summary="annulé")
            raise RuntimeError

    service()
    assert list(AuditEvent.objects.values_list("summary", flat=True)) == ["gardé"]
    assert ChainLink.objects.count() == 1 and findings() == []


def test_several_events_of_one_unit_of_work_take_the_head_once(actor):
    @unit_of_work
    def service() -> None:
        for n in range(3):
            audit_record(actor=actor, action="view", object_id=n)

    with CaptureQueriesContext(connection) as queries:
        service()
    assert sum('UPDATE "audit_chainhead"' in q["sql"] for q in queries.captured_queries) == 1
    assert list(ChainLink.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]


# Tampering, found


def test_an_altered_event_is_found_by_its_id(events):
    with triggers_off() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET actor_label = %s WHERE id = %s",
            ["quelqu'un", events[2].pk],
        )
    assert findings() == [("altered", events[2].pk)]
    with pytest.raises(CommandError) as error:
        call_command("audit_verify")
    assert error.value.returncode == 1


def test_altered_details_are_found(events):
    with triggers_off() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET details = %s WHERE id = %s",
            [json.dumps({"series": [1]}), events[0].pk],
        )
    assert findings() == [("altered", events[0].pk)]


def test_a_removed_event_is_found_by_its_id(events):
    with triggers_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    assert findings() == [("removed", events[1].pk)]


def test_an_event_removed_with_its_link_is_found(events):
    with triggers_off() as cursor:
        cursor.execute("DELETE FROM audit_chainlink WHERE event_id = %s", [events[1].pk])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    # The gap is named by the event after it.
    assert findings() == [("removed", events[2].pk), ("inserted", events[2].pk)]


def test_the_last_event_removed_with_its_link_is_found_by_the_head(events):
    with triggers_off() as cursor:
        cursor.execute("DELETE FROM audit_chainlink WHERE event_id = %s", [events[-1].pk])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    assert findings() == [("removed", events[-2].pk)]


def test_an_event_inserted_without_a_link_is_found_by_its_id(events):
    forged = AuditEvent.objects.create(action="view", summary="jamais arrivé")
    assert findings() == [("inserted", forged.pk)]


def test_a_forged_event_chained_at_the_end_is_found(events, actor):
    """Whoever knows the algorithm can hash a forged link; the head still says where
    the chain ended."""
    forged = AuditEvent.objects.create(action="view", summary="ajouté après coup")
    last = ChainLink.objects.order_by("-seq").first()
    event = AuditEvent.objects.filter(pk=forged.pk).values(*chain.EVENT_FIELDS).get()
    ChainLink.objects.create(
        event_id=forged.pk,
        day=last.day,
        shard=last.shard,
        seq=last.seq + 1,
        prev_hash=last.hash,
        hash=chain.link_hash(
            previous=last.hash, day=last.day, shard=last.shard, seq=last.seq + 1, event=event
        ),
    )
    assert findings() == [("inserted", forged.pk)]


def test_a_forged_event_slipped_into_the_middle_is_found(events):
    """The place's uniqueness dropped too: the forged link takes the number of an
    existing one."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's unique constraint is part of the table: it cannot be dropped")
    forged = AuditEvent.objects.create(action="view", summary="glissé au milieu")
    link = ChainLink.objects.get(event_id=events[2].pk)
    with triggers_off() as cursor:
        cursor.execute("ALTER TABLE audit_chainlink DROP CONSTRAINT audit_link_place")
        cursor.execute(
            "INSERT INTO audit_chainlink (event_id, day, shard, seq, prev_hash, hash)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [forged.pk, link.day, link.shard, link.seq, link.prev_hash, link.hash],
        )
    assert ("inserted", forged.pk) in findings()


def test_the_verification_of_one_day_leaves_the_others_out(events):
    with triggers_off() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[0].pk])
    today = timezone.localdate()
    assert findings(day=today - timedelta(days=1)) == []
    assert findings(day=today) == [("removed", events[0].pk)]


# Seals


@pytest.fixture
def yesterday(actor, monkeypatch):
    """Three events chained yesterday; the clock back to today."""
    day = timezone.localdate() - timedelta(days=1)
    real_now = timezone.now
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: real_now() - timedelta(days=1))
        for n in range(3):
            audit_record(actor=actor, action="view", object_id=n)
    return day


def test_a_past_day_is_sealed_once_and_the_seal_goes_to_the_operations_log(yesterday, caplog):
    with caplog.at_level(logging.INFO, logger="creneau.audit"):
        call_command("audit_seal")
    seal = Seal.objects.get()
    head = ChainHead.objects.get(day=yesterday, seq__gt=0)
    assert seal.day == yesterday and seal.heads == {str(head.shard): [3, head.hash]}
    (record,) = [r for r in caplog.records if r.name == "creneau.audit"]
    assert record.seal == {
        "day": yesterday.isoformat(),
        "heads": seal.heads,
        "prev_hash": chain.GENESIS,
        "hash": seal.hash,
    }
    assert audit_seal_due() == [] and audit_seal(day=yesterday) == seal
    assert findings() == [] and audit_chain_verify().unsealed == []


def test_today_cannot_be_sealed():
    with pytest.raises(InvalidInput):
        audit_seal(day=timezone.localdate())


def test_a_day_rewritten_whole_after_its_seal_is_found(yesterday):
    """The chain recomputed after an alteration, the head too: only the seal (and its
    copy in the operations log) still says what the day was."""
    audit_seal(day=yesterday)
    first = ChainLink.objects.get(day=yesterday, seq=1)
    with triggers_off() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET summary = 'réécrit' WHERE id = %s", [first.event_id]
        )
        previous = chain.GENESIS
        for link in ChainLink.objects.filter(day=yesterday).order_by("seq"):
            event = AuditEvent.objects.filter(pk=link.event_id).values(*chain.EVENT_FIELDS).get()
            digest = chain.link_hash(
                previous=previous, day=link.day, shard=link.shard, seq=link.seq, event=event
            )
            cursor.execute(
                "UPDATE audit_chainlink SET prev_hash = %s, hash = %s WHERE id = %s",
                [previous, digest, link.pk],
            )
            previous = digest
    ChainHead.objects.filter(day=yesterday, shard=first.shard).update(hash=previous)
    assert findings() == [("seal", None)]


def test_an_altered_seal_is_found(yesterday):
    seal = audit_seal(day=yesterday)
    with triggers_off() as cursor:
        cursor.execute("UPDATE audit_seal SET heads = %s WHERE id = %s", ["{}", seal.pk])
    assert ("seal", None) in findings()


def test_the_seals_are_append_only(yesterday):
    seal = audit_seal(day=yesterday)
    for sql in (
        "UPDATE audit_seal SET hash = 'x' WHERE id = %s",
        "DELETE FROM audit_seal WHERE id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [seal.pk])
    link = ChainLink.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_chainlink WHERE id = %s", [link.pk])
