"""Reading the audit log: an authority sees its scope, filtered, newest first."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.audit.selectors import audit_list
from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.geography.models import Department
from tests.factories import make_site


@pytest.fixture
def world(reference):
    users = get_user_model().objects
    paris = make_site(insee_code="75117", name="Paris 17")
    paris_other = make_site(insee_code="75117", name="Paris 17 bis")
    marseille = make_site(insee_code="13201", name="Marseille 1er")
    ana, bob = users.create_user("ana"), users.create_user("bob")
    events = {
        "paris": audit_record(
            actor=Actor(user=ana),
            action="view",
            site=paris,
            object_type="booking.series",
            object_id=1,
        ),
        "paris_other": audit_record(actor=Actor(user=bob), action="change", site=paris_other),
        "marseille": audit_record(actor=Actor(user=bob), action="export", site=marseille),
        "department_93": audit_record(
            actor=Actor(user=ana), action="export", department=Department.objects.get(code="93")
        ),
        "login": audit_record(actor=Actor(user=ana), action="login"),
    }
    return {"paris": paris, "marseille": marseille, "ana": ana, "bob": bob, "events": events}


def names(world, events) -> set[str]:
    by_pk = {event.pk: name for name, event in world["events"].items()}
    return {by_pk[event.pk] for event in events}


def test_the_national_scope_sees_everything_newest_first(world):
    events = audit_list()
    assert [e.pk for e in events] == sorted((e.pk for e in events), reverse=True)
    assert names(world, events) == set(world["events"])


def test_a_site_scope_sees_its_site_only(world):
    assert names(world, audit_list(sites=[world["paris"]])) == {"paris"}
    assert names(world, audit_list(sites=[world["paris"].pk])) == {"paris"}


def test_a_regional_scope_sees_the_sites_of_its_departments_and_the_departments_events(world):
    paris, seine_saint_denis = Department.objects.filter(code__in=["75", "93"])
    assert names(world, audit_list(departments=[paris, seine_saint_denis])) == {
        "paris",
        "paris_other",
        "department_93",
    }


def test_sites_and_departments_together_are_one_scope_and_an_empty_one_sees_nothing(world):
    marseille = world["marseille"]
    assert names(
        world, audit_list(sites=[marseille], departments=[Department.objects.get(code="93")])
    ) == {"marseille", "department_93"}
    assert audit_list(sites=[]) == []
    assert audit_list(sites=[], departments=[]) == []


def test_filters_by_actor_action_and_object(world):
    assert names(world, audit_list(actor=world["bob"])) == {"paris_other", "marseille"}
    assert names(world, audit_list(action="export")) == {"marseille", "department_93"}
    assert names(world, audit_list(object_type="booking.series", object_id=1)) == {"paris"}
    assert audit_list(object_type="booking.series", object_id="2") == []
    scoped = audit_list(departments=[world["paris"].department], actor=world["bob"])
    assert names(world, scoped) == {"paris_other"}


def test_filters_by_time_newest_first_and_limited(world):
    now = timezone.now()
    old = audit_record(actor=Actor(user=world["ana"]), action="view", site=world["paris"])
    # An event's time is given at creation; only a new row can be made older.
    older = AuditEvent.objects.create(at=now - timedelta(days=30), action="view")
    assert [e.pk for e in audit_list(until=now - timedelta(days=1))] == [older.pk]
    recent = audit_list(since=now - timedelta(days=1))
    assert older.pk not in {e.pk for e in recent} and recent[0].pk == old.pk
    events = audit_list()
    assert events[-1].pk == older.pk
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    assert [e.pk for e in audit_list(limit=2)] == [e.pk for e in events[:2]]
