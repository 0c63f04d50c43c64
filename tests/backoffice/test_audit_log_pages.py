"""Reading the audit log: an authority sees its own scope, filters it, exports it; the
reading itself goes into the log."""

import csv
import io

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import make_site
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role
URL = reverse("backoffice:audit_log")


@pytest.fixture
def log(reference):
    """An event at a Paris site and one at a Marseille site, by a nurse; accounts for the
    Île-de-France authority, the national authority and the nurse."""
    paris = make_site(name="Paris 17", insee_code="75117")
    marseille = make_site(name="Marseille 1er", insee_code="13201")
    nurse = staff_account_create(
        username="nurse", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[paris]
    )
    audit_record(
        actor=Actor(user=nurse),
        action="view",
        site=paris,
        object_type="booking.series",
        object_id=1,
        summary='=HYPERLINK("http://evil")',
    )
    audit_record(
        actor=Actor(user=nurse),
        action="change",
        site=marseille,
        object_type="booking.series",
        object_id=2,
        summary="Marseille",
    )
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(region_id="11")),
    )
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    return {"paris": paris, "marseille": marseille}


def sign_in(client, username):
    staff_sign_in(client, username)


def shown(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_a_regional_authority_reads_its_departments_only(client, log):
    sign_in(client, "ars")
    page = shown(client.get(URL))
    assert "Paris 17" in page and "Marseille" not in page


def test_the_national_authority_reads_every_event_and_filters_them(client, log):
    sign_in(client, "national")
    assert "Marseille" in shown(client.get(URL))
    page = shown(client.get(URL, {"action": "change", "actor": "nurse"}))
    assert "Marseille" in page and "Paris 17" not in page
    assert "Aucun événement" in shown(client.get(URL, {"actor": "nobody"}))
    page = shown(client.get(URL, {"site": log["paris"].pk}))
    assert "Paris 17" in page and "Marseille" not in page


def test_reading_the_log_is_itself_logged(client, log):
    sign_in(client, "ars")
    client.get(URL, {"action": "view"})
    event = AuditEvent.objects.filter(object_type="audit.auditevent").get()
    assert event.action == "view" and event.actor.username == "ars"
    assert event.details == {"action": "view"}


def test_the_export_is_a_csv_with_no_formula_and_is_logged(client, log):
    sign_in(client, "ars")
    response = client.get(URL, {"export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["at", "actor_label", "action"]
    assert [row[-1] for row in rows[1:]] == ['\'=HYPERLINK("http://evil")']
    assert AuditEvent.objects.filter(action="export", object_type="audit.auditevent").exists()


def test_a_site_outside_the_scope_is_not_found_and_bad_filters_are_400(client, log):
    sign_in(client, "ars")
    assert client.get(URL, {"site": log["marseille"].pk}).status_code == 404
    assert client.get(URL, {"since": "hier"}).status_code == 400
    assert client.get(URL, {"since": "2021-05-02", "until": "2021-05-01"}).status_code == 400
    assert client.get(URL, {"site": "9" * 30}).status_code == 400


def test_site_staff_cannot_read_the_log(client, log):
    sign_in(client, "nurse")
    assert client.get(URL).status_code == 404
