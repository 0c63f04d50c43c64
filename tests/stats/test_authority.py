"""The authorities' statistics (/backoffice/statistiques/): the public page's figures for
their scope, and their sites one by one (doses given, no-show rate, stock and its days of
cover). A regional authority sees only its region; others get the same 404 as a page that
does not exist."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.stats.models import DayRefresh, SiteDay, VaccinationDay
from creneau.vaccines.services import delivery_record
from tests.factories import make_site, vaccine
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role
URL = reverse("backoffice:statistics")


@pytest.fixture
def scope(reference, clock):
    """A Paris centre (7 days of 10 doses, 40 appointments of which 4 missed, 300 doses
    received) and a Marseille one; an ARS covering Paris and Seine-Saint-Denis."""
    today = timezone.localdate()
    clock.at(today, 12)
    paris = make_site(insee_code="75117", name="Centre Paris")
    marseille = make_site(insee_code="13201", name="Centre Marseille")
    delivery_record(
        site=paris,
        vaccine=vaccine(),
        quantity=300,
        expected_on=today - dt.timedelta(days=10),
        received_at=clock.now - dt.timedelta(days=10),
    )
    yesterday = today - dt.timedelta(days=1)
    for n in range(7):
        day = yesterday - dt.timedelta(days=n)
        DayRefresh.objects.create(day=day, refreshed_at=clock.now)
        SiteDay.objects.create(
            day=day,
            site=paris,
            vaccine=vaccine(),
            given=10,
            scheduled=40 if n == 0 else 0,
            noshows=4 if n == 0 else 0,
        )
    for code, dose1 in (("75", 500), ("13", 700)):
        VaccinationDay.objects.create(
            day=yesterday,
            department_id=code,
            vaccine=vaccine(),
            dose1=dose1,
            given=dose1,
            cum_dose1=dose1,
            cum_given=dose1,
        )
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code__in=["75", "93"])),
    )
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_account_create(
        username="manager", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[paris]
    )
    return {"paris": paris, "marseille": marseille}


def _site_row(html: str, name: str) -> str:
    return html[html.index(f'<th scope="row">{name}</th>') :].split("</tr>")[0]


def test_a_regional_authority_sees_its_sites_and_departments_only(client, scope):
    staff_sign_in(client, "ars")
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    paris = _site_row(html, "Centre Paris")
    # 70 doses over the week: 10 a day; 4 of 40 missed; 300 in stock, 30 days of it.
    assert "<td>70</td>" in paris and "10,0 % (4 / 40)" in paris
    assert "<td>300</td>" in paris and "<td>30,0</td>" in paris
    assert "Centre Marseille" not in html
    # The charts and tables of its departments, not the others'.
    assert "Paris (75)</th>" in html and "Seine-Saint-Denis (93)</th>" in html
    assert "Bouches-du-Rhône (13)</th>" not in html
    assert "<td>500 (" in html and "700" not in html


def test_a_department_out_of_scope_is_not_found(client, scope):
    staff_sign_in(client, "ars")
    assert client.get(URL, {"departement": "13"}).status_code == 404
    assert client.get(URL, {"departement": "XX"}).status_code == 404
    assert client.get(URL, {"departement": "93"}).status_code == 200


def test_the_national_authority_chooses_a_department_for_the_sites(client, scope):
    staff_sign_in(client, "national")
    html = client.get(URL).content.decode()
    assert "Choisissez un département pour voir ses lieux." in html
    assert "Bouches-du-Rhône (13)</th>" in html and "Paris (75)</th>" in html
    html = client.get(URL, {"departement": "13"}).content.decode()
    marseille = _site_row(html, "Centre Marseille")
    assert "<td>0</td>" in marseille and "–" in marseille  # no dose, no appointment
    assert "Centre Paris" not in html


def test_site_staff_and_visitors_do_not_get_the_page(client, scope):
    assert client.get(URL).status_code == 302  # to the sign-in
    staff_sign_in(client, "manager")
    assert client.get(URL).status_code == 404
    assert URL not in client.get(reverse("backoffice:home")).content.decode()


def test_the_page_is_linked_from_an_authoritys_home(client, scope):
    staff_sign_in(client, "ars")
    assert URL in client.get(reverse("backoffice:home")).content.decode()
