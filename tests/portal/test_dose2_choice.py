"""The second dose while booking: every day of the interval with places at the site, then
that day's hours (not the 8 slots of 3 days offered before), with nothing typed lost; and
the code page saying what is being booked."""

import re
from datetime import timedelta

import pytest
from django.utils.formats import date_format

from creneau.booking.models import Appointment, Series
from creneau.scheduling.models import Slot
from tests.factories import open_session, series_named, two_dose_site
from tests.portal.test_pages import details, hold_first_slot, last_code

# Comirnaty: 21 to 49 days after the first dose; two_dose_site opens days 35, 42 and 49.
MORE_DAYS = range(21, 31)


@pytest.fixture
def many_days(reference, settings):
    settings.DEMO = True
    site, session = two_dose_site(name="Centre Wagram", address="12 avenue de Wagram")
    for offset in MORE_DAYS:
        open_session(site, day=session.date + timedelta(days=offset), dose_number=2)
    return site, session


def days_offered(page: str) -> list[str]:
    select = page[page.index('name="dose2_day"') : page.index("</select>")]
    return re.findall(r'<option value="([\d-]+)"', select)


def hours_offered(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="dose2_slot" value="(\d+)"', page)]


def test_every_day_of_the_interval_with_places_is_offered(client, many_days):
    site, session = many_days
    hold_first_slot(client, site, session)

    page = client.get("/reserver/personne/").content.decode()

    dose2_days = sorted(
        set(Slot.objects.filter(site=site, dose_number=2).values_list("date", flat=True))
    )
    assert len(dose2_days) == 13
    assert days_offered(page) == [f"{day:%Y-%m-%d}" for day in dose2_days]
    # The day of the place held (the recommended interval, 42 days) is shown, its place ticked.
    held = _held_dose2(client)
    assert held.date == session.date + timedelta(days=42)
    assert re.search(rf'value="{held.pk}" checked', page)
    assert set(hours_offered(page)) == set(
        Slot.objects.filter(date=held.date, dose_number=2).values_list("pk", flat=True)
    )


def _held_dose2(client) -> Slot:
    from creneau.booking.models import Hold

    return Hold.objects.get(pk=client.session["portal_booking"]["hold"]).dose2_slot


def test_another_day_keeps_what_was_typed_and_books_its_hour(client, many_days):
    site, session = many_days
    hold_first_slot(client, site, session)
    day = session.date + timedelta(days=23)
    typed = details(given_name="Lucienne", dose2_day=f"{day:%Y-%m-%d}", dose2_show="1")

    response = client.post("/reserver/personne/", typed)

    assert response.status_code == 302 and response["Location"] == "/reserver/personne/#dose2"
    page = client.get("/reserver/personne/").content.decode()
    assert 'value="Lucienne"' in page
    assert f'<option value="{day:%Y-%m-%d}" selected>' in page
    hours = hours_offered(page)
    assert set(hours) == set(
        Slot.objects.filter(date=day, dose_number=2).values_list("pk", flat=True)
    )
    assert re.search(rf'value="{hours[0]}" checked', page)
    chosen = hours[3]

    response = client.post(
        "/reserver/personne/",
        details(
            given_name="Lucienne",
            dose2_day=f"{day:%Y-%m-%d}",
            dose2_shown=f"{day:%Y-%m-%d}",
            dose2_slot=chosen,
        ),
    )
    assert response["Location"] == "/reserver/code/"
    code_page = client.get("/reserver/code/").content.decode()
    summary = code_page[code_page.index("Ce que vous confirmez") :].split("</ul>")[0]
    dose2_slot = Slot.objects.get(pk=chosen)
    assert "Lucienne Martin" in summary and "Comirnaty" in summary and "Centre Wagram" in summary
    assert date_format(session.date, "l j F Y") in summary
    assert date_format(dose2_slot.date, "l j F Y") in summary
    client.post("/reserver/code/", {"code": last_code()})

    series = series_named("Lucienne")
    assert Appointment.objects.get(series=series, dose_number=2).slot_id == chosen


def test_a_day_chosen_but_not_looked_at_is_shown_before_anything_is_booked(client, many_days):
    site, session = many_days
    hold_first_slot(client, site, session)
    held = _held_dose2(client)
    day = session.date + timedelta(days=25)

    response = client.post(
        "/reserver/personne/",
        details(
            dose2_day=f"{day:%Y-%m-%d}",
            dose2_shown=f"{held.date:%Y-%m-%d}",
            dose2_slot=held.pk,
        ),
    )

    assert response["Location"] == "/reserver/personne/#dose2"
    page = client.get("/reserver/personne/").content.decode()
    assert "Choisissez l&#x27;heure de la seconde dose ce jour-là" in page
    assert f'<option value="{day:%Y-%m-%d}" selected>' in page
    assert not Series.objects.exists()


def test_a_day_outside_the_interval_shows_the_held_day_and_a_malformed_one_is_a_400(
    client, many_days
):
    site, session = many_days
    hold_first_slot(client, site, session)
    held = _held_dose2(client)
    too_late = session.date + timedelta(days=60)

    client.post("/reserver/personne/", {"dose2_day": f"{too_late:%Y-%m-%d}", "dose2_show": "1"})
    page = client.get("/reserver/personne/").content.decode()
    assert f'<option value="{held.date:%Y-%m-%d}" selected>' in page

    response = client.post("/reserver/personne/", {"dose2_day": "demain", "dose2_show": "1"})
    assert response.status_code == 400


def test_an_hour_of_another_day_than_the_one_shown_is_refused_by_the_form(client, many_days):
    site, session = many_days
    hold_first_slot(client, site, session)
    held = _held_dose2(client)
    elsewhere = Slot.objects.filter(dose_number=2).exclude(date=held.date).first()

    response = client.post(
        "/reserver/personne/",
        details(
            dose2_day=f"{held.date:%Y-%m-%d}",
            dose2_shown=f"{held.date:%Y-%m-%d}",
            dose2_slot=elsewhere.pk,
        ),
    )

    assert response.status_code == 200 and not Series.objects.exists()
