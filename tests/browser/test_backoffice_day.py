"""The day at a site in a real browser: a member of staff signs in, finds the person,
checks them in and records the dose given; each page checked by axe-core."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from creneau.booking.models import Appointment
from creneau.booking.services import booking_confirm, hold_create
from creneau.care.models import Administration
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Stock
from tests.browser.helpers import axe_check, screenshot, second_factor_type, staff_app
from tests.factories import LOT, person, series_named, two_dose_site, verified_contact


@pytest.fixture
def today_at_site(reference_committed):
    """Jeanne Martin booked at 9:00 today (booked yesterday evening), and a nurse."""
    site, session = two_dose_site(name="Centre Wagram", dose1_day=timezone.localdate())
    slot = session.slots.order_by("start").first()
    before = slot.start - timedelta(hours=12)
    hold = hold_create(slot_id=slot.pk, now=before).hold
    booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person(), now=before)
    staff_account_create(
        username="infirmiere",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[site],
    )
    return site


def test_a_nurse_checks_a_person_in_and_records_the_dose(page, live_server, today_at_site):
    page.goto(live_server.url + "/backoffice/")
    expect(page).to_have_url(f"{live_server.url}/backoffice/connexion/?next=/backoffice/")
    axe_check(page)
    page.get_by_label("Identifiant").fill("infirmiere")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    axe_check(page)
    page.get_by_role("link", name="Centre Wagram").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Centre Wagram")
    expect(page.get_by_role("cell", name="MARTIN Jeanne")).to_be_visible()
    axe_check(page)

    page.get_by_label("Chercher une personne (nom ou référence)").fill("mart")
    page.get_by_label("Chercher une personne (nom ou référence)").press("Enter")
    page.get_by_role("button", name="Arrivée de Jeanne Martin, 9 h 00").click()
    expect(page.get_by_text("Jeanne Martin est arrivé(e).")).to_be_visible()
    expect(page.get_by_role("cell", name="Arrivé", exact=True)).to_be_visible()
    screenshot(page, "backoffice-day")

    committed_before = Stock.objects.get(site=today_at_site).committed
    # A typing mistake: a lot the site never received is asked about, not taken.
    page.get_by_label("Lot pour Jeanne Martin, 9 h 00").fill("EW1243")
    page.get_by_role("button", name="Dose administrée à Jeanne Martin, 9 h 00").click()
    expect(page.get_by_text("Lot EW1243 non reçu sur ce lieu")).to_be_visible()
    axe_check(page)
    page.get_by_label("Lot", exact=True).fill(LOT)
    page.get_by_role("button", name="Dose administrée à Jeanne Martin, 9 h 00").click()
    expect(page.get_by_text("Dose enregistrée (lot EW1234).")).to_be_visible()
    expect(page.get_by_role("cell", name="Vacciné", exact=True)).to_be_visible()
    axe_check(page)

    dose1 = Appointment.objects.get(dose_number=1)
    assert dose1.status == "fulfilled" and dose1.administrations.get().lot == LOT
    assert dose1.administrations.get().given_by.username == "infirmiere"
    stock = Stock.objects.get(site=today_at_site)
    assert (stock.committed, stock.given) == (committed_before - 1, 1)


@pytest.fixture
def busy_day(reference_committed):
    """24 people at 9:00 to 9:50 today (four to a slot, two of them Marcel Durand, born on
    different days, at 9:50), and a nurse."""
    site, session = two_dose_site(name="Centre Wagram", dose1_day=timezone.localdate(), lines=4)
    slots = list(session.slots.order_by("start")) * 4
    for number, slot in enumerate(sorted(slots, key=lambda slot: slot.start)):
        before = slot.start - timedelta(hours=12)
        who = (
            person(given_name="Marcel", family_name="Durand", age=75 + number % 2)
            if number >= 22
            else person(given_name=f"Personne {number}", family_name="Lefebvre")
        )
        hold = hold_create(slot_id=slot.pk, now=before).hold
        booking_confirm(
            hold_id=hold.pk,
            contact=verified_contact(f"+336123456{number:02d}"),
            person=who,
            now=before,
        )
    staff_account_create(
        username="infirmiere",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[site],
    )
    return site


def row_in_view(page, appointment: Appointment) -> bool:
    return page.evaluate(
        """id => { const box = document.getElementById(id).getBoundingClientRect();
                   return box.top >= 0 && box.bottom <= window.innerHeight; }""",
        f"rdv-{appointment.pk}",
    )


def test_after_a_check_in_the_list_stays_filtered_and_at_the_persons_row(
    new_page, live_server, busy_day
):
    page = new_page(javascript_enabled=False)  # the way back to the row needs no script
    page.set_viewport_size({"width": 1440, "height": 800})
    page.goto(live_server.url + "/backoffice/connexion/")
    page.get_by_label("Identifiant").fill("infirmiere")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    page.get_by_role("link", name="Centre Wagram").click()
    page.wait_for_load_state()  # sizes and the jump to a row need the stylesheets applied
    # One line a person on a wide screen: 24 rows, not 24 screens.
    heights = page.eval_on_selector_all(
        "tbody tr", "rows => rows.map(row => row.getBoundingClientRect().height)"
    )
    assert len(heights) == 24 and max(heights) < 60, heights

    far_down = series_named("Personne 21").appointments.get(dose_number=1)
    assert not row_in_view(page, far_down)
    page.get_by_role("button", name="Arrivée de Personne 21 Lefebvre, 9 h 50").click()
    expect(page.get_by_text("Personne 21 Lefebvre est arrivé(e).")).to_be_visible()
    page.wait_for_load_state()
    assert page.url.endswith(f"#rdv-{far_down.pk}")
    assert row_in_view(page, far_down)

    search = page.get_by_label("Chercher une personne (nom ou référence)")
    search.fill("marcel durand")
    search.press("Enter")
    older = min(
        (a for a in Appointment.objects.filter(dose_number=1) if a.person.given_name == "Marcel"),
        key=lambda appointment: appointment.person.birth_date,
    )
    born = older.person.birth_date.strftime("%d/%m/%Y")
    page.get_by_role("button", name=f"Arrivée de Marcel Durand, 9 h 50, né(e) le {born}").click()
    expect(page.get_by_text("Marcel Durand est arrivé(e).")).to_be_visible()
    expect(search).to_have_value("marcel durand")
    assert page.url.endswith(
        f"?jour={timezone.localdate().isoformat()}&q=marcel+durand#rdv-{older.pk}"
    )
    assert Appointment.objects.get(pk=older.pk).status == "arrived"
    axe_check(page)


def test_a_manager_corrects_a_lot_recorded_by_mistake(new_page, live_server, today_at_site):
    """Without JavaScript: the correction page from the list, a lot the site never received
    asked about on the page, then confirmed; every page checked by axe-core."""
    dose1 = Appointment.objects.get(dose_number=1)
    nurse = staff_account_create(
        username="responsable",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_MANAGER,
        sites=[today_at_site],
    )
    app = staff_app("responsable")
    administration_record(
        actor=Actor(user=nurse),
        appointment_id=dose1.pk,
        site_id=today_at_site.pk,
        lot="ZZ999",
        lot_lent=True,
        now=dose1.slot.start,
    )
    page = new_page(javascript_enabled=False)
    page.goto(live_server.url + "/backoffice/connexion/")
    page.get_by_label("Identifiant").fill("responsable")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    second_factor_type(page, app)
    page.get_by_role("link", name="Centre Wagram").click()
    page.get_by_role("link", name="Corriger la dose de Jeanne Martin, 9 h 00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Corriger une dose enregistrée")
    axe_check(page)

    page.get_by_label("Lot injecté").fill("ZZ998")
    page.get_by_label("Motif de la correction").first.fill("Faute de frappe.")
    page.get_by_role("button", name="Corriger le lot").click()
    expect(page.get_by_text("Lot ZZ998 non reçu sur ce lieu")).to_be_visible()
    axe_check(page)
    page.get_by_text("Oui, ce lot a été prêté par un autre lieu").click()  # DSFR: the label
    page.get_by_role("button", name="Corriger le lot").click()
    expect(page.get_by_text("Lot corrigé.")).to_be_visible()
    assert page.url.endswith(f"#rdv-{dose1.pk}")
    assert Administration.objects.get().lot == "ZZ998"
