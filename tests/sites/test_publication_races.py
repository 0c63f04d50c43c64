"""Workers publishing the same department at once, and an authority cancelling it at the
same instant, on SQLite and PostgreSQL: published once, or cancelled, never both."""

from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.core.errors import InvalidInput
from creneau.sites.models import DepartmentPublication, Site
from creneau.sites.services import (
    department_publication_cancel,
    department_publication_schedule,
    department_publications_run,
)
from tests.concurrency.racers import race_threads
from tests.factories import STAFF, make_site

pytestmark = pytest.mark.concurrency


@pytest.fixture
def due(reference_committed):
    for _ in range(5):
        make_site(status=Site.Status.DRAFT)
    publication = department_publication_schedule(
        actor=STAFF, department_code="75", publish_at=timezone.now() + timedelta(seconds=1)
    )
    return publication, timezone.now() + timedelta(seconds=2)


def test_four_workers_publish_a_department_once(due):
    _publication, later = due
    results = race_threads(4, lambda _index: department_publications_run(now=later))
    assert not [result for result in results if isinstance(result, Exception)], results
    assert sorted(results) == [0, 0, 0, 5]
    assert Site.objects.filter(status=Site.Status.PUBLISHED).count() == 5
    # The scheduling's event, and the worker's once.
    assert AuditEvent.objects.count() == 2


def test_a_cancellation_racing_the_worker_wins_or_loses_whole(due):
    publication, later = due

    def work(index: int):
        if index == 0:
            return department_publication_cancel(actor=STAFF, publication_id=publication.pk)
        return department_publications_run(now=later)

    results = race_threads(3, work)
    unexpected = [
        r for r in results if isinstance(r, Exception) and not isinstance(r, InvalidInput)
    ]
    assert not unexpected, results
    status = DepartmentPublication.objects.get(pk=publication.pk).status
    published = Site.objects.filter(status=Site.Status.PUBLISHED).count()
    if status == "cancelled":
        assert (results[0], published, sorted(results[1:])) == (None, 0, [0, 0])
    else:
        assert isinstance(results[0], InvalidInput)
        assert (status, published, sorted(results[1:])) == ("done", 5, [0, 5])
    assert AuditEvent.objects.count() == 2
