"""The page a cancellation message links to (`/reprendre/…/`), through Django's test
client: plain HTML forms, no JavaScript. The person sees places over several days, with
each site's product (another one when the rules open it to them), then confirms what
changes before anything is booked."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.booking import tokens
from creneau.booking.models import Appointment, Cancellation, Series
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Slot
from tests.factories import (
    STAFF,
    at,
    deliver,
    make_site,
    open_session,
    person,
    tomorrow,
    two_dose_site,
    verified_contact,
)
from tests.portal.helpers import cancelled_link, link_open

DAY = tomorrow()


@pytest.fixture
def wagram(reference, settings):
    """Wagram gives Comirnaty tomorrow (the session to be cancelled), the day after and
    three days after."""
    settings.DEMO = True
    site, session = two_dose_site(name="Centre Wagram", dose1_day=DAY)
    open_session(site, day=DAY + timedelta(days=1))
    open_session(site, day=DAY + timedelta(days=3))
    return site, session


@pytest.fixture
def janssen_nearby(reference):
    """A pharmacy at the same place giving the one-dose Janssen vaccine (55 and over)."""
    site = make_site(name="Pharmacie Wagram", kind="pharmacy")
    deliver(site, 100, code="janssen")
    open_session(site, code="janssen", day=DAY + timedelta(days=2))
    return site


def slots_shown(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="slot" value="(\d+)"', page)]


def first_dose_slots(site, day) -> set[int]:
    return set(Slot.objects.filter(site=site, date=day, dose_number=1).values_list("pk", flat=True))


def test_the_offers_span_several_days_and_each_day_shows_its_slots(client, wagram):
    """It offered the first 4 slots of one day, and no other day."""
    site, session = wagram
    link = cancelled_link(client, site, session)

    page = client.get(link).content.decode()

    key = f"{site.pk}-comirnaty"
    for later in (1, 3):
        assert f"offre={key}&amp;jour={DAY + timedelta(days=later):%Y-%m-%d}" in page
    first = slots_shown(page)
    assert set(first) == first_dose_slots(site, DAY + timedelta(days=1))
    assert len(first) > 4

    third = DAY + timedelta(days=3)
    page = client.get(link, {"offre": key, "jour": f"{third:%Y-%m-%d}"}).content.decode()
    assert set(slots_shown(page)) == first_dose_slots(site, third)
    assert 'aria-current="date"' in page


def test_a_closer_site_with_another_product_the_person_may_have_is_offered_and_named(
    client, wagram, janssen_nearby
):
    site, session = wagram
    link = cancelled_link(client, site, session)

    page = client.get(link).content.decode()

    assert "Pharmacie Wagram" in page
    assert "Vaccin : COVID-19 Vaccine Janssen" in page
    assert "Autre vaccin que celui prévu" in page
    assert "Vaccin : Comirnaty" in page
    assert set(slots_shown(page)) & first_dose_slots(janssen_nearby, DAY + timedelta(days=2))
    # The person may keep to the product they had.
    only = client.get(link, {"vaccin": "comirnaty"}).content.decode()
    assert "Pharmacie Wagram" not in only and "Centre Wagram" in only


def test_a_product_the_person_may_not_have_is_not_offered_nor_booked(
    client, wagram, janssen_nearby
):
    site, session = wagram
    link = cancelled_link(client, site, session, who=person(age=30))
    janssen_slot = Slot.objects.filter(site=janssen_nearby).first()

    page = client.get(link).content.decode()
    assert "Pharmacie Wagram" not in page and "Centre Wagram" in page
    refused = client.post(link, {"slot": janssen_slot.pk, "confirm": "1"})

    assert refused.status_code == 403
    assert "Janssen est réservé aux personnes" in refused.content.decode()
    assert not Series.objects.filter(status="active").exists()


def test_choosing_a_slot_shows_what_changes_and_books_nothing_until_confirmed(client, wagram):
    """It booked on the first tap."""
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = Slot.objects.filter(site=site, date=DAY + timedelta(days=1)).order_by("start")[1]

    chosen = client.post(link, {"slot": slot.pk, "site": site.pk})

    assert chosen.status_code == 302 and chosen["Location"] == f"{link}?creneau={slot.pk}"
    page = client.get(chosen["Location"]).content.decode()
    assert "Confirmer le nouveau rendez-vous" in page
    assert not Series.objects.filter(status="active").exists()
    # What was cancelled: the first slot of the session, 9:00, both doses.
    before = re.search(r'id="avant".*?</section>', page, re.S)[0]
    assert before.count("appointment--cancelled") == 2 and "09:00" in before
    after = re.search(r'id="apres".*?</section>', page, re.S)[0]
    assert f"{timezone.localtime(slot.start):%H:%M}" in after
    assert 'id="nouvelle-dose-2"' in after
    dose2 = int(re.search(r'name="dose2" value="(\d+)"', page)[1])

    booked = client.post(link, {"slot": slot.pk, "dose2": dose2, "confirm": "1"})

    assert booked.status_code == 302
    series = Series.objects.get(status="active")
    assert booked["Location"] == f"/rendez-vous/{tokens.reference_display(series.reference)}/"
    assert sorted(
        Appointment.objects.filter(series=series).values_list("dose_number", "slot_id")
    ) == [(1, slot.pk), (2, dose2)]


def test_a_double_submit_of_the_confirmation_books_once(client, wagram):
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = Slot.objects.filter(site=site, date=DAY + timedelta(days=1)).first()
    confirm = {"slot": slot.pk, "confirm": "1"}

    first = client.post(link, confirm)
    second = client.post(link, confirm)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Series.objects.filter(status="active").count() == 1
    assert Notification.objects.filter(kind="booking_confirmed").count() == 2  # then, now


def test_rebooking_with_the_one_dose_product_says_there_is_no_dose_2(
    client, wagram, janssen_nearby
):
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = Slot.objects.filter(site=janssen_nearby).first()

    page = client.get(link, {"creneau": slot.pk}).content.decode()

    assert "Ce vaccin se donne en une seule dose : pas de 2e rendez-vous." in page
    assert "Autre vaccin que celui prévu : COVID-19 Vaccine Janssen au lieu de Comirnaty." in page
    assert 'name="dose2"' not in page
    client.post(link, {"slot": slot.pk, "confirm": "1"})
    series = Series.objects.get(status="active")
    assert series.vaccine.code == "janssen" and series.appointments.count() == 1


def test_a_dose_2_shown_then_taken_is_said_and_another_is_shown(client, wagram):
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = Slot.objects.filter(site=site, date=DAY + timedelta(days=1)).first()
    page = client.get(link, {"creneau": slot.pk}).content.decode()
    dose2 = int(re.search(r'name="dose2" value="(\d+)"', page)[1])
    Slot.objects.filter(pk=dose2).update(booked=2)  # taken by others meanwhile

    refused = client.post(link, {"slot": slot.pk, "dose2": dose2, "confirm": "1"})

    page = refused.content.decode()
    assert refused.status_code == 409
    assert "Confirmer le nouveau rendez-vous" in page
    assert int(re.search(r'name="dose2" value="(\d+)"', page)[1]) != dose2
    assert not Series.objects.filter(status="active").exists()


def test_a_slot_taken_before_the_confirmation_page_sends_back_to_the_offers(client, wagram):
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = Slot.objects.filter(site=site, date=DAY + timedelta(days=1)).first()
    Slot.objects.filter(pk=slot.pk).update(booked=2)

    response = client.get(link, {"creneau": slot.pk})

    page = html.unescape(response.content.decode())
    assert response.status_code == 409
    assert "Ce créneau vient d'être complet." in page
    assert "Reprendre rendez-vous" in page and slot.pk not in slots_shown(page)


def test_a_course_that_lost_its_dose_2_is_offered_several_days_and_keeps_its_dose_1(
    client, wagram, django_user_model
):
    site, session = wagram
    slot = session.slots.order_by("start").first()
    booked = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=at(DAY, 7)).hold.pk,
        contact=verified_contact(),
        person=person(),
        now=at(DAY, 7),
    )
    dose1, dose2 = sorted(booked.appointments, key=lambda a: a.dose_number)
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="EW1234",
        actor=Actor(user=django_user_model.objects.create_user(username="nurse")),
        now=at(DAY, 9, 5),
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=dose2.slot.session_id,
        reason="Livraison retardée.",
    )
    body = notification_render(notification=Notification.objects.get(kind="booking_cancelled")).body
    link = link_open(client, body)

    page = client.get(link).content.decode()

    assert page.count('class="calendar__day') == 2  # the two other dose-2 days
    new = slots_shown(page)[0]
    page = client.get(link, {"creneau": new}).content.decode()
    assert "Faite, reste enregistrée" in page
    client.post(link, {"slot": new, "confirm": "1"})
    assert Appointment.objects.get(series=booked.series, status="booked").slot_id == new


@pytest.mark.parametrize(
    "query, status",
    [
        ({"creneau": "abc"}, 400),
        ({"creneau": "9" * 30}, 400),
        ({"creneau": "\u00b2"}, 400),
        ({"creneau": str(10**12)}, 409),
        ({"offre": "x", "jour": "nope"}, 400),
        # A day or a product the link does not offer: the offers as they are.
        ({"offre": "x", "jour": "2020-01-01"}, 200),
        ({"vaccin": "nope"}, 200),
    ],
)
def test_bad_input_gets_a_page_that_says_why_never_a_500(client, wagram, query, status):
    site, session = wagram
    response = client.get(cancelled_link(client, site, session), query)
    assert response.status_code == status


@pytest.mark.parametrize(
    "form",
    [
        {"slot": "abc", "confirm": "1"},
        {"slot": "1", "dose2": "x", "confirm": "1"},
        {"slot": str(10**12), "confirm": "1"},
        {"confirm": "1"},
    ],
)
def test_bad_posts_book_nothing(client, wagram, form):
    site, session = wagram
    response = client.post(cancelled_link(client, site, session), form)
    assert 400 <= response.status_code < 500
    assert not Series.objects.filter(status="active").exists()


def test_the_rebooking_pages_open_only_in_the_browser_that_opened_the_link(client, wagram):
    site, session = wagram
    link = cancelled_link(client, site, session)
    slot = session.slots.order_by("start").last()
    stranger = client.__class__()

    # The item's number is in the address; the key that opened it is not.
    assert stranger.get(link).status_code == 404
    assert stranger.post(link, {"slot": slot.pk, "confirm": "1"}).status_code == 404
    assert client.get(link).status_code == 200
    assert not Series.objects.filter(status="active").exists()
