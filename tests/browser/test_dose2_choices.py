"""The second dose in a browser on a 375-px phone, with and without JavaScript, axe-checked:
choosing its day among every day of the interval, then its hour; and cancelling it alone
once the first dose is given."""

import re
from datetime import timedelta

import pytest
from django.utils.formats import date_format
from playwright.sync_api import expect

from creneau.booking import tokens
from creneau.booking.models import Appointment
from creneau.booking.services import booking_confirm, hold_create
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.scheduling.models import Slot
from tests.browser.helpers import axe_check
from tests.browser.test_portal import code_from_outbox, fill_person
from tests.factories import (
    LOT,
    at,
    open_session,
    person,
    series_named,
    tomorrow,
    two_dose_site,
    verified_contact,
)

PHONE_375 = {"device": "phone", "viewport": {"width": 375, "height": 667}}


@pytest.fixture
def site(reference_committed, settings):
    settings.DEMO = True
    site, session = two_dose_site(name="Centre Wagram", address="12 avenue de Wagram")
    for offset in range(21, 31):
        open_session(site, day=session.date + timedelta(days=offset), dose_number=2)
    return site


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_the_second_dose_day_then_hour_on_a_phone(new_page, live_server, site, javascript_enabled):
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(f"{live_server.url}/centres/{site.pk}/")
    page.get_by_role("button", name=re.compile(r"^Choisir le ")).first.click()
    expect(page.get_by_role("heading", name="Créneau retenu pour vous")).to_be_visible()
    page.get_by_label("Prénom").fill("Lucienne")
    day_select = page.get_by_label("Jour de la seconde dose")
    days = day_select.locator("option").all_inner_texts()
    assert len(days) == 13  # every day of the interval with places, not 3
    axe_check(page)

    dose1 = Slot.objects.filter(site=site, dose_number=1).order_by("start").first()
    day = dose1.date + timedelta(days=24)
    day_select.select_option(f"{day:%Y-%m-%d}")
    page.get_by_role("button", name="Voir les heures de ce jour").click()

    hours = page.get_by_role("group", name=re.compile("^Heures libres le "))
    expect(hours).to_contain_text(date_format(day, "l j F Y"))
    expect(page.get_by_label("Prénom")).to_have_value("Lucienne")  # nothing typed is lost
    expect(page.locator("#dose2")).to_be_in_viewport()
    axe_check(page)
    page.get_by_text("09:30", exact=True).click()
    fill_person(page, "Lucienne")
    page.get_by_role("button", name="Recevoir le code de confirmation").click()

    summary = page.locator(".booking-summary")
    expect(summary).to_contain_text("Lucienne Martin")
    expect(summary).to_contain_text("Comirnaty")
    expect(summary).to_contain_text(date_format(day, "l j F Y") + ", 09:30")
    axe_check(page)
    page.get_by_label("Code reçu").fill(code_from_outbox(page))
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rendez-vous confirmé")

    series = series_named("Lucienne")
    dose2 = Appointment.objects.select_related("slot").get(series=series, dose_number=2)
    assert dose2.slot.date == day


@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_cancelling_the_second_dose_alone_on_a_phone(
    new_page, live_server, reference_committed, settings, django_user_model, javascript_enabled
):
    settings.DEMO = True
    day = tomorrow()
    _site, session = two_dose_site(name="Centre Wagram", dose1_day=day)
    booked = booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk).hold.pk,
        contact=verified_contact(),
        person=person(),
    )
    dose1 = min(booked.appointments, key=lambda a: a.dose_number)
    administration_record(
        appointment_id=dose1.pk,
        site_id=session.site_id,
        lot=LOT,
        actor=Actor(user=django_user_model.objects.create_user(username="infirmiere")),
        now=at(day, 9, 5),
    )
    display = tokens.reference_display(booked.series.reference)
    page = new_page(javascript_enabled=javascript_enabled, **PHONE_375)
    page.goto(f"{live_server.url}/rendez-vous/{display}/?cle={booked.management_token}")
    expect(page.get_by_role("link", name="Annuler le rendez-vous")).to_have_count(0)
    axe_check(page)

    page.get_by_role("link", name="Annuler la seconde dose").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annuler la seconde dose ?")
    expect(page.get_by_text("La première dose reste enregistrée")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Oui, annuler la seconde dose").click()

    expect(page.get_by_text("Seconde dose annulée.")).to_be_visible()
    expect(page.locator(".appointment--fulfilled")).to_contain_text("Faite")
    expect(page.locator(".appointment--cancelled")).to_contain_text("Annulée")
    axe_check(page)
    assert list(
        Appointment.objects.filter(series=booked.series)
        .order_by("dose_number")
        .values_list("status", flat=True)
    ) == ["fulfilled", "cancelled"]
