"""The authorities' pages: the population upload and the campaigns, in scope, audited."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.campaigns.models import Campaign, Invitee
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.staff_door import second_factor_give, staff_sign_in

from .conftest import csv_file, line

Role = StaffProfile.Role


@pytest.fixture
def accounts(reference):
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code__in=["75", "93"])),
    )
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_account_create(username="agent", password=DEMO_PASSWORD, role=Role.CALL_CENTRE)


def upload(client, content: bytes):
    return client.post(
        reverse("backoffice:population"),
        {"file": SimpleUploadedFile("extrait.csv", content, content_type="text/csv")},
    )


def test_a_regional_authority_uploads_its_departments_rows_and_sees_the_rejections(
    client, accounts
):
    staff_sign_in(client, "ars")
    content = csv_file(
        line("A1"), line("M1", code_postal="13001", commune="Marseille"), line("A2", nom="=1+1")
    ).getvalue()
    page = upload(client, content)
    assert page.status_code == 200
    text = page.content.decode()
    assert "3 lignes lues" in text and "1 nouvelles" in text
    assert "Département 13 : hors de votre périmètre." in text
    assert Invitee.objects.count() == 1
    assert AuditEvent.objects.filter(action="create", actor__username="ars").count() == 1


def test_a_malformed_upload_is_a_400_with_its_reason_and_changes_nothing(client, accounts):
    staff_sign_in(client, "national")
    page = upload(client, "identifiant;nom\nA1;Müller\n".encode("latin-1"))
    assert page.status_code == 400
    assert "UTF-8" in page.content.decode()
    assert not Invitee.objects.exists()


def test_an_upload_over_the_limit_is_refused_from_its_length(client, accounts, settings):
    staff_sign_in(client, "national")
    settings.POPULATION_IMPORT_MAX_BYTES = 200
    page = upload(client, csv_file(*(line(f"A{n}") for n in range(5))).getvalue())
    assert page.status_code == 413
    assert not Invitee.objects.exists()


def test_a_body_over_the_limit_is_refused_before_anything_reads_it(accounts, settings):
    """Refused with 413 before CSRF's check, which would read (and store) the body: a
    client without a token gets 413, not 403. Under the limit the check still holds."""
    client = Client(enforce_csrf_checks=True)
    national = get_user_model().objects.get(username="national")
    client.force_login(national)
    second_factor_give(client, national)
    settings.POPULATION_IMPORT_MAX_BYTES = 200
    content = csv_file(*(line(f"A{n}") for n in range(5))).getvalue()
    assert upload(client, content).status_code == 413
    settings.POPULATION_IMPORT_MAX_BYTES = 10_000
    assert upload(client, content).status_code == 403
    assert not Invitee.objects.exists()


def test_the_call_centre_has_no_campaign_pages(client, accounts):
    staff_sign_in(client, "agent")
    assert client.get(reverse("backoffice:campaigns")).status_code == 404
    assert client.get(reverse("backoffice:population")).status_code == 404


FORM = {
    "name": "Plus de 75 ans",
    "departments": "75",
    "born_to": "1950-12-31",
    "channels": "sms, email, letter",
    "message_fr": "Vous pouvez prendre rendez-vous.",
    "send_days": ["0", "1", "2", "3", "4", "5"],
    "send_from": "09:00",
    "send_until": "19:00",
    "pace_factor": "1.0",
    "reminder_days": "7",
}


def test_an_authority_defines_previews_and_starts_a_campaign(client, accounts, population):
    staff_sign_in(client, "ars")
    created = client.post(reverse("backoffice:campaigns"), FORM)
    assert created.status_code == 302
    campaign = Campaign.objects.get()
    page = client.get(created["Location"]).content.decode()
    assert "Aperçu du message" in page and "invitation à la vaccination pour Anne Petit" in page
    started = client.post(
        reverse("backoffice:campaign_status", args=[campaign.pk]), {"action": "start"}
    )
    assert started.status_code == 302
    assert Campaign.objects.get().status == "running"
    again = client.post(
        reverse("backoffice:campaign_status", args=[campaign.pk]), {"action": "start"}
    )
    assert again.status_code == 400 and "en cours" in again.content.decode()
    assert AuditEvent.objects.filter(action="change", object_type="campaigns.campaign").count() == 1


def test_a_regional_authority_cannot_reach_another_regions_campaign(client, accounts):
    staff_sign_in(client, "national")
    client.post(reverse("backoffice:campaigns"), {**FORM, "departments": "13"})
    marseille = Campaign.objects.get()
    client.logout()
    staff_sign_in(client, "ars")
    assert client.get(reverse("backoffice:campaign", args=[marseille.pk])).status_code == 404
    stop = client.post(
        reverse("backoffice:campaign_status", args=[marseille.pk]), {"action": "stop"}
    )
    assert stop.status_code == 404
    assert Campaign.objects.get().status == "draft"
    refused = client.post(reverse("backoffice:campaigns"), {**FORM, "departments": "75, 13"})
    assert refused.status_code == 400 and "hors de votre périmètre" in refused.content.decode()
    assert Campaign.objects.count() == 1
