"""The screen of other platforms: health, registering, confirming (the national
authority's), and each feed's health at its places for a regional authority."""

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.interop.models import ExternalPlatform
from creneau.interop.services import feed_import, platform_register
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import STAFF, make_site
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


@pytest.mark.parametrize("role", [Role.SITE_MANAGER, Role.CALL_CENTRE])
def test_other_roles_do_not_see_the_platforms(reference, client, role):
    site = make_site()
    staff_account_create(username="other", password=DEMO_PASSWORD, role=role, sites=[site])
    staff_sign_in(client, "other")
    assert client.get(reverse("backoffice:platforms")).status_code == 404


def _regional(client, username: str, departments: list[str]):
    staff_account_create(
        username=username,
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code__in=departments)),
    )
    staff_sign_in(client, username)
    return client


def test_a_regional_authority_sees_the_health_of_feeds_at_its_places_read_only(
    reference, client, feed_server
):
    platform = platform_register(
        actor=STAFF, name="Rdv Exemple", manifest_url=_good_feed(feed_server)
    )
    feed_import(platform_id=platform.pk)
    quiet = platform_register(
        actor=STAFF, name="Rdv Ailleurs", manifest_url=feed_server.url("/nulle-part")
    )
    ile_de_france = _regional(client, "ars.idf", ["75", "93"])

    listing = ile_de_france.get(reverse("backoffice:platforms"))
    page = listing.content.decode()
    assert listing.status_code == 200
    assert "Rdv Exemple" in page and "Rdv Ailleurs" not in page
    assert "Lieux dans votre région" in page
    assert "Enregistrer une plateforme" not in page and "manifest_url" not in page
    detail = ile_de_france.get(reverse("backoffice:platform", args=[platform.pk]))
    text = detail.content.decode()
    assert detail.status_code == 200
    assert "2 lieux, 6 places libres" in text  # two locations, three slots of 2 places
    assert "Pharmacie du Marais 1" in text
    assert reverse("backoffice:platform_confirm", args=[platform.pk]) not in text

    # Read-only: neither registering nor confirming, and nothing changes.
    before = list(ExternalPlatform.objects.order_by("pk").values())
    refused = ile_de_france.post(
        reverse("backoffice:platforms"),
        {"name": "Intrus", "manifest_url": "https://rdv.example.org/$bulk-publish"},
    )
    assert refused.status_code == 404
    confirm = ile_de_france.post(reverse("backoffice:platform_confirm", args=[platform.pk]))
    assert confirm.status_code == 404
    assert list(ExternalPlatform.objects.order_by("pk").values()) == before
    assert ile_de_france.get(reverse("backoffice:platform", args=[quiet.pk])).status_code == 404


def test_a_platform_without_places_in_a_region_is_not_found_there(reference, client, feed_server):
    platform = platform_register(
        actor=STAFF, name="Rdv Exemple", manifest_url=_good_feed(feed_server)
    )
    feed_import(platform_id=platform.pk)
    provence = _regional(client, "ars.paca", ["13"])
    assert "Rdv Exemple" not in provence.get(reverse("backoffice:platforms")).content.decode()
    assert provence.get(reverse("backoffice:platform", args=[platform.pk])).status_code == 404
