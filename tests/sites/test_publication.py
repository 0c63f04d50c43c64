from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput, NotFound
from creneau.core.jobs import jobs_declared
from creneau.sites.models import DepartmentPublication, Site
from creneau.sites.selectors import department_opening, site_get_public, site_list_public
from creneau.sites.services import (
    department_publication_cancel,
    department_publication_schedule,
    department_publications_run,
    site_close,
    site_publish,
)
from tests.factories import STAFF, make_site


@pytest.fixture
def authority(db):
    user = get_user_model().objects.create_user(username="ars", password="x")
    return Actor(user=user)


def test_a_department_is_published_at_its_hour_by_the_worker(reference, authority):
    drafts = [make_site(status=Site.Status.DRAFT) for _ in range(3)]
    own_hour = timezone.now() + timedelta(days=2)
    own = make_site(status=Site.Status.DRAFT, publish_at=own_hour)
    elsewhere = make_site(status=Site.Status.DRAFT, insee_code="13201")
    eight_am = timezone.now() + timedelta(hours=10)
    publication = department_publication_schedule(
        actor=authority, department_code="75", publish_at=eight_am
    )
    event = AuditEvent.objects.get()
    assert (event.actor, event.department_id, event.details["drafts"]) == (
        authority.user,
        "75",
        3,
    )
    assert department_publications_run() == 0
    assert not site_list_public().exists()

    later = eight_am + timedelta(seconds=1)
    assert department_publications_run(now=later) == 3
    assert set(site_list_public(now=later)) == set(drafts)
    assert site_get_public(site_id=drafts[0].pk, now=later) == drafts[0]
    # A draft with its own hour keeps it; another department stays a draft.
    own.refresh_from_db()
    assert (own.status, own.publish_at) == (Site.Status.DRAFT, own_hour)
    with pytest.raises(NotFound):
        site_get_public(site_id=elsewhere.pk, now=later)
    publication.refresh_from_db()
    assert (publication.status, publication.published) == ("done", 3)
    assert Site.objects.filter(pk__in=[d.pk for d in drafts], status_set_by="staff").count() == 3
    done = AuditEvent.objects.order_by("pk").last()
    assert (done.actor, done.department_id, done.details) == (None, "75", {"published": 3})
    # Done once: running again publishes nothing and records nothing.
    assert department_publications_run(now=later) == 0
    assert AuditEvent.objects.count() == 2


def test_a_publication_is_cancelled_before_its_hour_and_then_does_nothing(reference, authority):
    draft = make_site(status=Site.Status.DRAFT)
    publication = department_publication_schedule(
        actor=authority, department_code="75", publish_at=timezone.now() + timedelta(hours=1)
    )
    department_publication_cancel(actor=authority, publication_id=publication.pk)
    event = AuditEvent.objects.order_by("pk").last()
    assert event.details["after"] is None
    assert department_publications_run(now=timezone.now() + timedelta(hours=2)) == 0
    draft.refresh_from_db()
    assert draft.status == Site.Status.DRAFT
    with pytest.raises(InvalidInput):
        department_publication_cancel(actor=authority, publication_id=publication.pk)
    assert AuditEvent.objects.count() == 2


def test_scheduling_again_moves_the_hour(reference, authority):
    make_site(status=Site.Status.DRAFT)
    first = timezone.now() + timedelta(hours=1)
    department_publication_schedule(actor=authority, department_code="75", publish_at=first)
    second = first + timedelta(days=1)
    department_publication_schedule(actor=authority, department_code="75", publish_at=second)
    assert list(
        DepartmentPublication.objects.order_by("pk").values_list("status", "publish_at")
    ) == [
        ("cancelled", first),
        ("scheduled", second),
    ]
    assert AuditEvent.objects.order_by("pk").last().details["before"] == first.isoformat()


def test_a_past_hour_or_an_unknown_department_is_refused_and_changes_nothing(reference, authority):
    with pytest.raises(InvalidInput) as caught:
        department_publication_schedule(
            actor=authority, department_code="75", publish_at=timezone.now() - timedelta(minutes=1)
        )
    assert caught.value.details["field"] == "publish_at"
    with pytest.raises(NotFound):
        department_publication_schedule(
            actor=authority, department_code="00", publish_at=timezone.now() + timedelta(hours=1)
        )
    assert not DepartmentPublication.objects.exists() and not AuditEvent.objects.exists()


def test_a_department_not_yet_open_says_when_it_opens(reference, authority):
    make_site(status=Site.Status.DRAFT)
    assert department_opening(insee_code="75117") is None
    hour = timezone.now() + timedelta(hours=5)
    department_publication_schedule(actor=authority, department_code="75", publish_at=hour)
    opening = department_opening(insee_code="75117")
    assert (opening.department.code, opening.at) == ("75", hour)
    # A draft of its own earlier hour opens the department first.
    sooner = timezone.now() + timedelta(hours=2)
    make_site(status=Site.Status.DRAFT, publish_at=sooner)
    assert department_opening(insee_code="75117").at == sooner
    # Once a site is public, nothing to announce.
    make_site()
    assert department_opening(insee_code="75117") is None


def test_the_worker_runs_the_publications():
    assert "department_publications" in {job.name for job in jobs_declared()}


def test_publish_now_and_close(reference):
    site = make_site(status=Site.Status.DRAFT)
    site_publish(actor=STAFF, site_id=site.pk)
    assert site_get_public(site_id=site.pk)
    with pytest.raises(NotFound):
        site_publish(actor=STAFF, site_id=site.pk)
    site_close(actor=STAFF, site_id=site.pk)
    with pytest.raises(NotFound):
        site_get_public(site_id=site.pk)
    with pytest.raises(NotFound):
        site_close(actor=STAFF, site_id=site.pk)


def test_a_draft_published_by_its_own_hour_needs_no_job(reference):
    due = make_site(status=Site.Status.DRAFT, publish_at=timezone.now() - timedelta(minutes=1))
    make_site(status=Site.Status.DRAFT, publish_at=timezone.now() + timedelta(hours=1))
    assert list(site_list_public()) == [due]
