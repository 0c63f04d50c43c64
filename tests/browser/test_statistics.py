"""/statistiques/ in a real browser: the charts and the map drawn without a script, their
tables one click away, no sideways scrolling on a small phone, and axe-core's check."""

import datetime as dt
import random

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.stats.models import AppointmentDay, DayRefresh, VaccinationDay
from tests.browser.helpers import axe_check, screenshot, second_factor_type, staff_app
from tests.factories import make_site, vaccine

DAYS = 42


@pytest.fixture
def figures(reference_committed):
    """Six weeks of a campaign in every department, in proportion to its population, a
    little faster where the rng says so; in Lozère, 5 people: too few to be published."""
    rng = random.Random(18)
    comirnaty = vaccine()
    today = timezone.localdate()
    first = today - dt.timedelta(days=DAYS)
    days, appointment_rows = [], []
    for department in Department.objects.all():
        pace = department.population / 4_000 * rng.uniform(0.6, 1.4)
        if department.code == "48":
            days.append(
                VaccinationDay(
                    day=first,
                    department=department,
                    vaccine=comirnaty,
                    dose1=5,
                    given=5,
                    cum_dose1=5,
                    cum_given=5,
                )
            )
            continue
        cum_dose1 = cum_complete = 0
        for n in range(DAYS):
            day = first + dt.timedelta(days=n)
            weekend = day.weekday() >= 5
            dose1 = round(pace * (1 + n / 10) * (0.4 if weekend else 1))
            complete = round(pace * max(0, n - 21) / 10 * (0.4 if weekend else 1))
            cum_dose1, cum_complete = cum_dose1 + dose1, cum_complete + complete
            days.append(
                VaccinationDay(
                    day=day,
                    department=department,
                    vaccine=comirnaty,
                    dose1=dose1,
                    complete=complete,
                    given=dose1 + complete,
                    cum_dose1=cum_dose1,
                    cum_complete=cum_complete,
                    cum_given=cum_dose1 + cum_complete,
                )
            )
            appointment_rows.append(
                AppointmentDay(
                    day=day,
                    department=department,
                    vaccine=comirnaty,
                    dose_number=1,
                    age_band="75-79",
                    booked=2 * dose1,
                    scheduled=dose1,
                    given=dose1,
                )
            )
    VaccinationDay.objects.bulk_create(days, batch_size=1000)
    AppointmentDay.objects.bulk_create(appointment_rows, batch_size=1000)
    DayRefresh.objects.bulk_create(
        DayRefresh(day=first + dt.timedelta(days=n), refreshed_at=timezone.now())
        for n in range(DAYS)
    )


def no_sideways_scrolling(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_the_statistics_page_reads_without_a_script(
    new_page, live_server, figures, javascript_enabled
):
    page = new_page(device="desktop", javascript_enabled=javascript_enabled)
    page.goto(live_server.url + "/statistiques/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistiques de la vaccination")
    for name in (
        "Premières doses et schémas complets par jour, en France",
        "Part de la population vaccinée, en pourcentage, en France",
    ):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    expect(page.get_by_role("img", name="Carte des départements", exact=False)).to_be_visible()
    if javascript_enabled:
        screenshot(page, "statistics")
    # Each chart's figures: a table behind a summary that opens without a script.
    page.get_by_text("Les chiffres par département (tableau)").click()
    table = page.get_by_role("table", name="Rendez-vous et vaccination par département")
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name="Lozère (48)", exact=False)).to_contain_text("–")
    axe_check(page)


def test_on_a_small_phone_nothing_scrolls_sideways(new_page, live_server, figures):
    page = new_page(device="phone", viewport={"width": 320, "height": 640})
    page.goto(live_server.url + "/statistiques/")
    expect(page.get_by_role("img", name="Carte des départements", exact=False)).to_be_visible()
    no_sideways_scrolling(page)
    for summary in page.locator("details.stats-data summary").all():
        summary.click()
    axe_check(page)


def test_a_regional_authority_reads_its_scope_and_sites(page, live_server, figures):
    """The back office's statistics of an ARS: its departments' charts, its sites' table
    (doses, no-show rate, stock, days of cover), keyboard-reachable, axe-clean."""
    make_site(insee_code="75117", name="Centre Paris 17")
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code__in=["75", "93"])),
    )
    app = staff_app("ars")
    page.goto(f"{live_server.url}/backoffice/statistiques/")
    page.get_by_label("Identifiant").fill("ars")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    second_factor_type(page, app)
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistiques de mon périmètre")
    table = page.get_by_role("table", name="Doses, absences et stock par lieu")
    expect(table.get_by_role("row", name="Centre Paris 17", exact=False)).to_be_visible()
    expect(
        page.get_by_role("img", name="Premières doses et schémas complets par jour", exact=False)
    ).to_be_visible()
    axe_check(page)
