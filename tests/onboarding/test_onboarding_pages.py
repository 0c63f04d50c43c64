"""The pages: the public application form (its limits, no CSRF shortcut), the
authorities' review, the invitation link, a site's team, the allocation table, and how
search and site pages show a site that vaccinates without slots."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.onboarding.messages import invitation_token
from creneau.onboarding.models import Application, SiteWithoutSlots, StaffInvitation
from creneau.onboarding.services import application_submit
from creneau.sites.models import Site
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Allocation, Delivery, Vaccine
from tests.factories import make_site, two_dose_site, vaccine
from tests.staff_door import staff_sign_in

from .helpers import EMAIL, Role, application_data, authority, receive

FORM = {
    "kind": "pharmacy",
    "name": "Pharmacie du Marché",
    "address": "3 place du Marché",
    "postcode": "75017",
    "town": "Paris",
    "number_kind": "finess",
    "number": "590780193",
    "applicant_name": "Paul Martin",
    "email": "pharmacie@exemple.fr",
}


def test_a_pharmacy_applies_on_the_portal(client, reference):
    assert client.get(reverse("portal:apply")).status_code == 200
    response = client.post(reverse("portal:apply"), FORM)
    assert response.status_code == 302 and response["Location"] == reverse("portal:apply_sent")
    assert Application.objects.get().name == "Pharmacie du Marché"
    assert "Rejoindre Créneau" in client.get("/").content.decode()


def test_a_wrong_check_digit_or_address_is_said_on_the_form(client, reference):
    response = client.post(reverse("portal:apply"), {**FORM, "number": "590780194"})
    assert response.status_code == 400
    assert "clé de contrôle" in response.content.decode()
    response = client.post(reverse("portal:apply"), {**FORM, "town": "Lyon"})
    assert response.status_code == 400
    assert "code postal de : Paris" in response.content.decode()
    response = client.post(reverse("portal:apply"), {**FORM, "kind": "\x00"})
    assert response.status_code == 400
    assert not Application.objects.exists()


def test_applications_are_limited_per_network(client, reference, settings):
    settings.LIMIT_APPLICATIONS_PER_ADDRESS = "2/3600"
    numbers = ["10003016739", "10003016721", "10003016713"]
    answers = [
        client.post(
            reverse("portal:apply"),
            {**FORM, "kind": "gp_practice", "number_kind": "rpps", "number": n},
        )
        for n in numbers
    ]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert int(answers[2]["Retry-After"]) > 0
    assert Application.objects.count() == 2


def test_the_form_keeps_csrf(reference):
    response = Client(enforce_csrf_checks=True).post(reverse("portal:apply"), FORM)
    assert response.status_code == 403
    assert not Application.objects.exists()


def test_an_authority_reviews_only_its_departments_and_approves(client, reference):
    paris = application_submit(data=application_data())
    marseille = application_submit(
        data=application_data(postcode="13001", town="Marseille", number="10003016721")
    )
    authority("ars.idf", "75", "93")
    staff_sign_in(client, "ars.idf")
    page = client.get(reverse("backoffice:applications")).content.decode()
    assert "Cabinet du Dr Lefebvre" in page and f"/adhesions/{paris.pk}/" in page
    assert f"/adhesions/{marseille.pk}/" not in page
    assert client.get(reverse("backoffice:application", args=[marseille.pk])).status_code == 404
    page = client.get(reverse("backoffice:application", args=[paris.pk])).content.decode()
    assert EMAIL in page
    assert AuditEvent.objects.filter(action="view", object_type="onboarding.application").exists()
    response = client.post(reverse("backoffice:application", args=[paris.pk]), {"action": "refuse"})
    assert response.status_code == 400
    response = client.post(
        reverse("backoffice:application", args=[paris.pk]), {"action": "approve"}
    )
    assert response.status_code == 302
    assert Site.objects.get().status == Site.Status.DRAFT
    response = client.post(
        reverse("backoffice:application", args=[paris.pk]), {"action": "approve"}
    )
    assert response.status_code == 409 and "déjà été examinée" in response.content.decode()


def test_the_invitation_link_sets_a_password_once_then_signs_in(client, reference):
    application = application_submit(data=application_data())
    staff_sign_in(client, authority("ars.idf", "75").user.username)
    client.post(reverse("backoffice:application", args=[application.pk]), {"action": "approve"})
    client.logout()
    token = invitation_token(invitation_id=StaffInvitation.objects.get().pk)
    link = reverse("backoffice:invitation", args=[token])
    response = client.get(link)
    assert response["Location"] == reverse("backoffice:invitation_password")
    page = client.get(response["Location"]).content.decode()
    assert EMAIL in page and token not in page
    password = "Glycine-Tramway-Boussole-31"
    response = client.post(
        reverse("backoffice:invitation_password"),
        {"password": password, "password_again": "autre"},
    )
    assert response.status_code == 400
    response = client.post(
        reverse("backoffice:invitation_password"),
        {"password": password, "password_again": password},
    )
    assert response["Location"] == reverse("backoffice:login")
    assert client.get(link).status_code == 409
    assert Client().get(reverse("backoffice:invitation", args=["nimporte"])).status_code == 404
    assert staff_sign_in(client, EMAIL, password).status_code == 302


def test_a_manager_invites_and_removes_staff_on_the_team_page(client, reference):
    site = make_site()
    staff_account_create(
        username="responsable", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    staff_sign_in(client, "responsable")
    url = reverse("backoffice:team", args=[site.pk])
    response = client.post(url, {"email": "accueil@exemple.fr", "role": "site_staff"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "accueil@exemple.fr" in page and "Invitation envoyée" in page
    user_id = int(re.search(r"/equipe/(\d+)/retirer/", page).group(1))
    assert (
        client.post(reverse("backoffice:team_remove", args=[site.pk, user_id])).status_code == 302
    )
    assert "accueil@exemple.fr" not in client.get(url).content.decode()
    # Its only site: the account no longer signs in.
    assert not get_user_model().objects.get(pk=user_id).is_active


def test_a_site_without_slots_says_so_on_search_and_its_page(client, reference):
    site = make_site(name="Cabinet Sans Créneaux", phone="+33145678901", kind="gp_practice")
    SiteWithoutSlots.objects.create(site=site)
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Cabinet Sans Créneaux" in page
    assert "On y vaccine, pas encore de rendez-vous en ligne" in page
    page = client.get(reverse("portal:site", args=[site.pk])).content.decode()
    assert "pas encore de rendez-vous en ligne" in page
    assert 'name="slot"' not in page


def test_a_manager_declares_the_site_without_slots(client, reference):
    site = make_site()
    staff_account_create(
        username="responsable", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    staff_sign_in(client, "responsable")
    url = reverse("backoffice:without_slots", args=[site.pk])
    assert client.post(url, {"without_slots": "on"}).status_code == 302
    assert SiteWithoutSlots.objects.filter(site=site).exists()
    assert client.post(url, {}).status_code == 302
    assert not SiteWithoutSlots.objects.filter(site=site).exists()


def _allocation_post(rows, quotas, *, key="cle-1", expected_on="2030-01-07"):
    vaccines = list(Vaccine.objects.filter(active=True).order_by("name"))
    data = {
        "key": key,
        "expected_on": expected_on,
        "lieux-TOTAL_FORMS": str(len(rows)),
        "lieux-INITIAL_FORMS": str(len(rows)),
    }
    for v in vaccines:
        data[f"quota_{v.pk}"] = str(quotas.get(v.code, ""))
    for index, (site, quantities) in enumerate(rows):
        data[f"lieux-{index}-site"] = str(site.pk)
        for v in vaccines:
            data[f"lieux-{index}-v{v.pk}"] = str(quantities.get(v.code, ""))
    return data


@pytest.fixture
def regions(reference):
    paris, _ = two_dose_site(name="Centre Wagram", insee_code="75117")
    bobigny = make_site(name="Centre de Bobigny", insee_code="93008")
    marseille = make_site(name="Centre du Vieux-Port", insee_code="13201")
    authority("ars.idf", "75", "93")
    return paris, bobigny, marseille


def test_the_allocation_screen_shows_the_regions_sites_and_shares_doses(client, regions):
    paris, bobigny, marseille = regions
    staff_sign_in(client, "ars.idf")
    url = reverse("backoffice:allocation")
    page = client.get(url).content.decode()
    assert "Centre Wagram" in page and "Centre de Bobigny" in page
    assert "Centre du Vieux-Port" not in page
    over = _allocation_post(
        [(paris, {"comirnaty": 400}), (bobigny, {"comirnaty": 200})], {"comirnaty": 500}
    )
    response = client.post(url, over)
    assert response.status_code == 400
    assert "600 doses réparties pour un quota de 500 (100 de trop)" in response.content.decode()
    assert not Allocation.objects.exists()
    # htmx refreshes only the totals, and writes nothing.
    response = client.post(url + "?totaux=1", over, HTTP_HX_REQUEST="true")
    assert 'id="totaux"' in response.content.decode() and "<table" not in response.content.decode()
    assert "Comirnaty : 600 doses sur un quota de 500" in response.content.decode()
    assert not Allocation.objects.exists()
    good = _allocation_post(
        [(paris, {"comirnaty": 300}), (bobigny, {"comirnaty": 200, "janssen": 20})],
        {"comirnaty": 500, "janssen": 20},
    )
    assert client.post(url, good).status_code == 302
    assert Delivery.objects.filter(allocation__isnull=False).count() == 3
    # A site of another region slipped into the form: not found, nothing written.
    foreign = _allocation_post([(marseille, {"comirnaty": 10})], {"comirnaty": 10}, key="cle-2")
    assert client.post(url, foreign).status_code == 404
    assert not Delivery.objects.filter(site=marseille).exists()


def test_the_site_sees_the_expected_delivery_at_once(client, regions):
    _, bobigny, _ = regions
    staff_sign_in(client, "ars.idf")
    client.post(
        reverse("backoffice:allocation"),
        _allocation_post([(bobigny, {"janssen": 20})], {"janssen": 20}),
    )
    staff_account_create(
        username="responsable", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[bobigny]
    )
    manager = Client()
    staff_sign_in(manager, "responsable")
    page = manager.get(reverse("backoffice:stock", args=[bobigny.pk])).content.decode()
    assert "07/01/2030" in page and vaccine("janssen").name in page


def test_a_region_of_many_sites_is_allocated_in_one_form(client, regions):
    """300 more sites: over Django's default of 1,000 fields a form."""
    paris, bobigny, _ = regions
    many = [make_site(name=f"Pharmacie {n}", insee_code="75117") for n in range(300)]
    staff_sign_in(client, "ars.idf")
    rows = [(site, {"comirnaty": 1}) for site in [paris, bobigny, *many]]
    data = _allocation_post(rows, {"comirnaty": len(rows)})
    assert len(data) > 1500
    assert client.post(reverse("backoffice:allocation"), data).status_code == 302
    assert Delivery.objects.filter(allocation__isnull=False).count() == len(rows)


def test_the_allocation_page_reads_as_many_queries_for_fifty_more_sites(client, regions):
    staff_sign_in(client, "ars.idf")
    url = reverse("backoffice:allocation")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    queries()  # the session's first look writes what later ones do not
    before = queries()
    for n in range(50):
        site = make_site(name=f"Pharmacie {n}", insee_code="93008")
        receive(site, 12)
    assert queries() == before


def test_the_national_authority_picks_a_department_first(client, regions):
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_sign_in(client, "national")
    page = client.get(reverse("backoffice:allocation")).content.decode()
    assert "Afficher ses lieux" in page and "<table" not in page
    page = client.get(reverse("backoffice:allocation"), {"departement": "13"}).content.decode()
    assert "Centre du Vieux-Port" in page and "Centre Wagram" not in page
    home = client.get(reverse("backoffice:home")).content.decode()
    assert "Répartition des doses" in home and "Demandes d'adhésion des lieux" in home


def test_site_staff_and_managers_have_no_allocation_screen(client, regions):
    paris, _, _ = regions
    staff_account_create(
        username="responsable", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[paris]
    )
    staff_sign_in(client, "responsable")
    assert client.get(reverse("backoffice:allocation")).status_code == 404
    assert client.get(reverse("backoffice:applications")).status_code == 404
