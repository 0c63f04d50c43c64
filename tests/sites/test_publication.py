from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.core.errors import NotFound
from creneau.sites.models import Site
from creneau.sites.selectors import site_get_public, site_list_public
from creneau.sites.services import site_close, site_publish, sites_publication_schedule
from tests.factories import STAFF, make_site


def test_a_department_is_published_at_the_scheduled_time_without_any_job(reference):
    drafts = [make_site(status=Site.Status.DRAFT) for _ in range(3)]
    elsewhere = make_site(status=Site.Status.DRAFT, insee_code="13201")
    eight_am = timezone.now() + timedelta(hours=10)
    assert sites_publication_schedule(department_code="75", publish_at=eight_am) == 3
    assert not site_list_public().exists()
    later = eight_am + timedelta(seconds=1)
    assert set(site_list_public(now=later)) == set(drafts)
    assert site_get_public(site_id=drafts[0].pk, now=later) == drafts[0]
    with pytest.raises(NotFound):
        site_get_public(site_id=elsewhere.pk, now=later)
    with pytest.raises(NotFound):
        sites_publication_schedule(department_code="00", publish_at=eight_am)


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
