"""Site management from the back office: details and publication, sessions (one-off and
weekly), deliveries and the dose ledger; refusals with figures, nothing changed."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.scheduling.models import Session, Slot
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Delivery, Stock, Vaccine
from tests.factories import deliver, make_site, tomorrow
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def site(reference):
    site = make_site(name="Wagram")
    deliver(site, 100)
    staff_account_create(
        username="chef", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[site]
    )
    return site


def sign_in(client, username="chef"):
    staff_sign_in(client, username)


def session_form(**changes):
    day = tomorrow()
    return {
        "vaccine": Vaccine.objects.get(code="comirnaty").pk,
        "dose_number": 1,
        "date_from": day.isoformat(),
        "start_time": "09:00",
        "end_time": "10:00",
        "lines": 2,
        "slot_minutes": 10,
        **changes,
    }


def ledger(site):
    stock = Stock.objects.get(site=site)
    return stock.delivered, stock.committed, stock.given


def test_a_manager_opens_a_session_and_its_doses_are_committed(client, site):
    sign_in(client)
    response = client.post(reverse("backoffice:sessions", args=[site.pk]), session_form())
    assert response.status_code == 302
    session = Session.objects.get()
    assert session.slots.count() == 6 and session.lines == 2
    assert ledger(site) == (100, 24, 0)  # 12 first-dose places x 2 doses
    assert AuditEvent.objects.filter(action="create", object_type="scheduling.session").exists()
    page = client.get(reverse("backoffice:stock", args=[site.pk])).content.decode()
    assert "<strong>76</strong>" in page  # uncommitted
    assert "Engagé jour par jour" in page and "<td>24</td>" in page


def test_a_weekly_pattern_opens_the_chosen_weekdays_of_the_range(client, site):
    sign_in(client)
    start = tomorrow()
    form = session_form(
        date_to=(start + timedelta(days=13)).isoformat(),
        weekdays=[0, 2],
        lines=1,
        end_time="09:30",
    )
    assert client.post(reverse("backoffice:sessions", args=[site.pk]), form).status_code == 302
    days = list(Session.objects.values_list("date", flat=True))
    assert len(days) == 4 and {day.weekday() for day in days} == {0, 2}


def test_opening_beyond_the_stock_is_refused_with_the_figures_and_nothing_changes(client, site):
    sign_in(client)
    response = client.post(reverse("backoffice:sessions", args=[site.pk]), session_form(lines=20))
    page = response.content.decode()
    assert response.status_code == 400
    assert "il faut 240 doses, il en reste 100 non engagées" in page
    assert not Session.objects.exists() and ledger(site) == (100, 0, 0)


def test_lines_change_and_close_give_doses_back(client, site):
    sign_in(client)
    client.post(reverse("backoffice:sessions", args=[site.pk]), session_form())
    session = Session.objects.get()
    client.post(reverse("backoffice:session_lines", args=[site.pk, session.pk]), {"lines": 1})
    assert ledger(site) == (100, 12, 0)
    client.post(reverse("backoffice:session_stop", args=[site.pk, session.pk]))
    assert Session.objects.get().status == "closed" and ledger(site) == (100, 0, 0)
    assert not Slot.objects.filter(capacity__gt=0).exists()


def test_deliveries_are_recorded_received_and_cancelled(client, site):
    sign_in(client)
    url = reverse("backoffice:stock", args=[site.pk])
    soon = timezone.localdate() + timedelta(days=3)
    client.post(
        url,
        {
            "vaccine": Vaccine.objects.get(code="comirnaty").pk,
            "quantity": 50,
            "lot": "FK1234",
            "expires_on": (soon + timedelta(days=5)).isoformat(),
            "expected_on": soon.isoformat(),
        },
    )
    delivery = Delivery.objects.get(lot="FK1234")
    assert delivery.status == "expected" and ledger(site) == (150, 0, 0)
    assert "périme bientôt" in client.get(url).content.decode()
    change = reverse("backoffice:delivery_change", args=[site.pk, delivery.pk])
    client.post(change, {"action": "receive"})
    assert Delivery.objects.get(pk=delivery.pk).status == "received"
    other = Delivery.objects.exclude(pk=delivery.pk).get()
    Delivery.objects.filter(pk=other.pk).update(status="expected", received_at=None)
    client.post(
        reverse("backoffice:delivery_change", args=[site.pk, other.pk]), {"action": "cancel"}
    )
    assert ledger(site) == (50, 0, 0)


def test_a_delivery_covering_promised_doses_cannot_be_cancelled(client, site):
    sign_in(client)
    client.post(reverse("backoffice:sessions", args=[site.pk]), session_form(lines=4))
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="expected", received_at=None)
    page = client.post(
        reverse("backoffice:delivery_change", args=[site.pk, delivery.pk]),
        {"action": "cancel"},
        follow=True,
    ).content.decode()
    assert "déjà promises" in page and ledger(site) == (100, 48, 0)


def test_the_site_details_and_its_publication(client, site):
    sign_in(client)
    url = reverse("backoffice:site_settings", args=[site.pk])
    response = client.post(
        url, {"name": "Centre Wagram", "phone": "01 42 00 00 00", "accessibility": "Plain-pied"}
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.name, site.phone) == ("Centre Wagram", "+33142000000")
    assert client.post(url, {"name": "Wagram", "phone": "12"}).status_code == 400
    publication = reverse("backoffice:site_publication", args=[site.pk])
    client.post(publication, {"action": "close"})
    assert Site.objects.get(pk=site.pk).status == "closed"
    draft = make_site(name="Nouveau", status=Site.Status.DRAFT)
    StaffProfile.objects.get(user__username="chef").sites.add(draft)
    later = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT08:00")
    client.post(
        reverse("backoffice:site_publication", args=[draft.pk]),
        {"action": "schedule", "publish_at": later},
    )
    assert Site.objects.get(pk=draft.pk).publish_at is not None
    client.post(reverse("backoffice:site_publication", args=[draft.pk]), {"action": "publish"})
    assert Site.objects.get(pk=draft.pk).status == "published"


def test_a_regional_authority_manages_the_sites_of_its_departments(client, site):
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(region_id="11")),
    )
    marseille = make_site(name="Marseille", insee_code="13201")
    sign_in(client, "ars")
    assert client.get(reverse("backoffice:sessions", args=[site.pk])).status_code == 200
    assert client.get(reverse("backoffice:sessions", args=[marseille.pk])).status_code == 404


def test_site_staff_cannot_manage_and_foreign_objects_are_not_found(client, site):
    sign_in(client, "agent")
    assert client.get(reverse("backoffice:sessions", args=[site.pk])).status_code == 404
    client.logout()
    sign_in(client)
    other = make_site(name="Ailleurs", insee_code="13201")
    deliver(other, 10)
    foreign = Delivery.objects.get(site=other)
    url = reverse("backoffice:delivery_change", args=[site.pk, foreign.pk])
    assert client.post(url, {"action": "cancel"}).status_code == 404
    assert Delivery.objects.get(pk=foreign.pk).status != "cancelled"


@pytest.mark.parametrize(
    "changes",
    [
        {"lines": 0},
        {"lines": "beaucoup"},
        {"slot_minutes": 1},
        {"date_from": "demain"},
        {"start_time": "11:00", "end_time": "10:00"},
        {"date_from": "2020-01-01"},
        {"date_to": tomorrow().isoformat()},  # a range without weekdays
        {"vaccine": 999999},
    ],
)
def test_bad_sessions_are_400_and_change_nothing(client, site, changes):
    sign_in(client)
    response = client.post(reverse("backoffice:sessions", args=[site.pk]), session_form(**changes))
    assert response.status_code == 400
    assert not Session.objects.exists() and ledger(site) == (100, 0, 0)
