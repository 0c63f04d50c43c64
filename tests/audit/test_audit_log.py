"""The audit log (invariant 8, its audit half): what a record holds, that it commits
with the change it records, and that nothing changes or deletes it afterwards, neither
through the ORM nor in raw SQL, on SQLite and on PostgreSQL."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.test import RequestFactory

from creneau.audit.models import AuditAppendOnly, AuditEvent
from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.staff.access import actor_from_request
from tests.factories import make_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("agent", password="x" * 16)


@pytest.fixture
def event(agent):
    return audit_record(
        actor=Actor(user=agent), action="view", object_type="booking.series", object_id=7
    )


def raw(sql: str, params: list | None = None) -> None:
    """One raw statement in its own savepoint: a refusal leaves the test's transaction
    usable (PostgreSQL aborts a transaction on error)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# Recording


def signed_in(request, user):
    request.user = user
    return request


def test_recording_takes_the_address_and_the_browser_from_the_request(agent):
    request = RequestFactory().get(
        "/backoffice/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox/128 " + "x" * 500
    )
    event = audit_record(
        actor=actor_from_request(signed_in(request, agent)), action="view", summary="La liste"
    )
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.ip == "203.0.113.9"
    assert event.user_agent.startswith("Firefox/128") and len(event.user_agent) == 200
    assert (event.actor, event.actor_label, event.action) == (agent, "agent", "view")
    assert event.summary == "La liste" and event.details == {}


def test_a_forwarded_address_is_ignored_without_a_trusted_proxy(agent, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert (
        audit_record(actor=actor_from_request(signed_in(request, agent)), action="view").ip
        == "10.0.0.2"
    )


def test_behind_the_proxy_the_address_it_appended_is_kept_not_the_clients_claim(agent, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 2001:db8::1"
    )
    assert (
        audit_record(actor=actor_from_request(signed_in(request, agent)), action="view").ip
        == "2001:db8::1"
    )
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="junk")
    assert (
        audit_record(actor=actor_from_request(signed_in(request, agent)), action="view").ip is None
    )


def test_an_object_names_itself_and_a_site_brings_its_department(reference, agent):
    site = make_site()
    event = audit_record(
        actor=Actor(user=agent), action="change", obj=site, details={"field": "name"}
    )
    assert (event.object_type, event.object_id) == ("sites.site", str(site.pk))
    event = audit_record(
        actor=Actor(user=agent), action="view", site=site, object_type="sites.site.day"
    )
    assert event.department == site.department and event.object_type == "sites.site.day"


def test_the_actor_label_stays_when_the_account_is_renamed(event, agent):
    agent.username = "someone-else"
    agent.save()
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "agent"


def test_without_a_signed_in_actor_the_system_is_recorded():
    event = audit_record(
        actor=Actor(user=AnonymousUser()), action="login_failed", summary="mallory"
    )
    assert event.actor is None and event.actor_label == ""
    assert audit_record(actor=None, action="export").actor is None


def test_an_unknown_action_is_refused(agent):
    with pytest.raises(ValueError):
        audit_record(actor=Actor(user=agent), action="peek")
    assert not AuditEvent.objects.exists()


def test_an_event_recorded_in_a_rolled_back_transaction_leaves_nothing(agent):
    with pytest.raises(RuntimeError), transaction.atomic():
        renamed = get_user_model().objects.create_user("new-agent")
        audit_record(actor=Actor(user=agent), action="create", obj=renamed)
        raise RuntimeError("the change fails after its audit row was written")
    assert not AuditEvent.objects.exists()
    assert not get_user_model().objects.filter(username="new-agent").exists()


# Append-only, in Python


def test_saving_an_existing_event_again_is_refused(event):
    event.summary = "rewritten"
    with pytest.raises(AuditAppendOnly):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).summary == ""


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AuditAppendOnly):
        event.delete()
    with pytest.raises(AuditAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    assert AuditEvent.objects.filter(pk=event.pk, summary="").exists()


# Append-only, in the database: the same refusals with Python's guards out of the way


def test_the_database_refuses_an_update_through_the_orm(event):
    plain = models.QuerySet(AuditEvent)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        plain.filter(pk=event.pk).update(summary="rewritten")
    assert AuditEvent.objects.get(pk=event.pk).summary == ""


def test_the_database_refuses_a_delete_through_the_orm(event):
    plain = models.QuerySet(AuditEvent)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        plain.filter(pk=event.pk)._raw_delete(using="default")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        models.Model.delete(event)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET summary = 'rewritten' WHERE id = %s",
        "UPDATE audit_auditevent SET actor_id = NULL, actor_label = '' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s OR 1 = 1",
    ],
)
def test_the_database_refuses_updates_and_deletes_in_raw_sql(event, sql):
    with pytest.raises(IntegrityError, match="append-only"):
        raw(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, summary="", actor_label="agent").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_truncate_outside_a_flush():
    # Committed first: PostgreSQL will not truncate a table with pending trigger events.
    event = audit_record(actor=None, action="export")
    with pytest.raises(IntegrityError, match="append-only"):
        raw("TRUNCATE audit_auditevent")
    with pytest.raises(IntegrityError, match="append-only"):
        raw("TRUNCATE sites_site CASCADE")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_log_and_leaves_it_append_only():
    """The test suite flushes between transactional tests: the one way rows leave."""
    agent = get_user_model().objects.create_user("agent")
    audit_record(actor=Actor(user=agent), action="login")
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    event = audit_record(actor=None, action="export")
    with pytest.raises(IntegrityError, match="append-only"):
        raw("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(IntegrityError, match="append-only"):
        raw("UPDATE audit_auditevent SET summary = 'x' WHERE id = %s", [event.pk])
    # Left behind on purpose: pytest-django's flush at teardown must get through.
