"""The national authority's screen of other platforms: health, registering, confirming."""

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.interop.models import ExternalPlatform
from creneau.interop.services import feed_import
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import make_site
from tests.staff_door import staff_sign_in

from .test_import import _good_feed

Role = StaffProfile.Role


@pytest.fixture
def national(reference, client):
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_sign_in(client, "national")
    return client


def test_registering_a_platform_then_confirming_a_sample_of_its_sites(national, feed_server):
    page = national.get(reverse("backoffice:platforms"))
    assert page.status_code == 200
    answer = national.post(
        reverse("backoffice:platforms"),
        {"name": "Rdv Exemple", "manifest_url": _good_feed(feed_server)},
    )
    platform = ExternalPlatform.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("backoffice:platform", args=[platform.pk])
    feed_import(platform_id=platform.pk)
    detail = national.get(answer["Location"]).content.decode()
    assert "Pharmacie du Marais 1" in detail and "Pharmacie du Marais 2" in detail
    assert "ne correspondent à aucun des nôtres" in detail

    national.post(reverse("backoffice:platform_confirm", args=[platform.pk]))
    platform.refresh_from_db()
    assert platform.external_sites_confirmed_at is not None
    events = AuditEvent.objects.filter(object_type="interop.externalplatform")
    assert [(e.action, e.actor.username) for e in events.order_by("id")] == [
        ("create", "national"),
        ("change", "national"),
    ]
    listing = national.get(reverse("backoffice:platforms")).content.decode()
    assert "À jour" in listing

    again = national.post(reverse("backoffice:platform_confirm", args=[platform.pk]), follow=True)
    assert "déjà confirmés" in again.content.decode()
    assert events.count() == 2


def test_a_platform_on_our_own_network_is_refused_with_a_message(national):
    answer = national.post(
        reverse("backoffice:platforms"),
        {"name": "Intrus", "manifest_url": "http://127.0.0.1:8000/admin/"},
    )
    assert answer.status_code == 400
    assert "notre réseau" in answer.content.decode()
    assert not ExternalPlatform.objects.exists()
    assert not AuditEvent.objects.filter(object_type="interop.externalplatform").exists()


@pytest.mark.parametrize("role", [Role.SITE_MANAGER, Role.REGIONAL_AUTHORITY, Role.CALL_CENTRE])
def test_other_roles_do_not_see_the_platforms(reference, client, role):
    site = make_site()
    staff_account_create(username="other", password=DEMO_PASSWORD, role=role, sites=[site])
    staff_sign_in(client, "other")
    assert client.get(reverse("backoffice:platforms")).status_code == 404
