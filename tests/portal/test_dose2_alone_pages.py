"""The portal's "J'ai déjà reçu ma 1re dose ailleurs": the vaccine and day of dose 1,
then that product's second-dose places inside the interval, booked alone without
JavaScript; what cannot be is said on its field; the booking's page shows the dose 1
declared, and its dose 2 is cancelled there."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.booking.models import Hold, Series
from creneau.scheduling.models import Slot
from tests.factories import make_site, open_session, tomorrow
from tests.portal.test_pages import details, last_code

TODAY = timezone.localdate()
GIVEN_ON = TODAY - timedelta(days=20)
PAGE = "/deuxieme-dose/"


@pytest.fixture
def dose2_session(site_and_session):
    site, _ = site_and_session
    return open_session(site, day=tomorrow(2), dose_number=2)


def search(client, **fields):
    query = {"vaccine": "comirnaty", "given_on": f"{GIVEN_ON}", "near": "75017"}
    return client.get(PAGE, query | fields)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def test_the_home_page_offers_the_choice(client, site_and_session):
    page = text_of(client.get("/"))
    assert f'href="{PAGE}"' in page and "J'ai déjà reçu ma 1re dose ailleurs" in page


def test_booking_a_dose2_alone_from_the_search_to_the_booking_page(client, dose2_session):
    site = dose2_session.site
    page = text_of(search(client))
    first = Slot.objects.filter(site=site, dose_number=2).order_by("start").first()
    assert "2e dose de Comirnaty après une 1re dose le" in page
    # Only second-dose slots are offered, each form carrying the declared dose 1.
    offered = {int(pk) for pk in re.findall(r'name="slot" value="(\d+)"', page)}
    assert offered and offered <= set(dose2_session.slots.values_list("pk", flat=True))
    assert f'name="dose1_date" value="{GIVEN_ON}"' in page
    # The site's page lists the same second-dose places, its days keep the declaration.
    site_page = text_of(
        client.get(f"/centres/{site.pk}/?dose1_vaccine=comirnaty&dose1_date={GIVEN_ON}")
    )
    assert f"dose1_date={GIVEN_ON}" in site_page
    assert set(map(int, re.findall(r'name="slot" value="(\d+)"', site_page))) <= offered | set(
        dose2_session.slots.values_list("pk", flat=True)
    )

    held = client.post(
        "/reserver/",
        {
            "slot": first.pk,
            "site": site.pk,
            "dose1_vaccine": "comirnaty",
            "dose1_date": f"{GIVEN_ON}",
        },
    )
    assert held["Location"] == "/reserver/personne/"
    assert Hold.objects.get().dose1_elsewhere_on == GIVEN_ON
    form = text_of(client.get("/reserver/personne/"))
    assert "Seconde dose seule de Comirnaty" in form
    assert 'name="dose2_slot"' not in form

    coded = client.post("/reserver/personne/", details())
    assert coded["Location"] == "/reserver/code/"
    summary = text_of(client.get("/reserver/code/"))
    assert "reçue ailleurs le" in summary
    booked = client.post("/reserver/code/", {"code": last_code()})
    page = text_of(client.get(booked["Location"]))

    series = Series.objects.get()
    assert [a.dose_number for a in series.appointments.all()] == [2]
    assert series.dose1_elsewhere_on == GIVEN_ON
    assert "1re dose reçue ailleurs : Comirnaty" in page
    assert "/annuler-dose-2/" in page

    reference = booked["Location"].split("/")[2]
    cancelled = client.post(f"/rendez-vous/{reference}/annuler-dose-2/", {"reason": ""})
    assert cancelled.status_code == 302
    series.refresh_from_db()
    assert series.status == Series.Status.CANCELLED
    again = text_of(client.get(cancelled["Location"]))
    # To book again is to book a dose 2 again, after the same dose 1.
    assert f"{PAGE}?near=" in again and f"given_on={GIVEN_ON}" in again


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"given_on": f"{TODAY + timedelta(days=1)}"}, "given_on", "futur"),
        ({"given_on": "2021-01-04"}, "given_on", "dépassé"),
        ({"vaccine": "janssen"}, "vaccine", ""),
        ({"vaccine": "pfizouille"}, "vaccine", ""),
        ({"given_on": "31/02/2021"}, "given_on", ""),
        ({"given_on": ""}, "given_on", ""),
    ],
)
def test_a_declaration_that_cannot_be_is_said_on_its_field(
    client, dose2_session, fields, field, words
):
    response = search(client, **fields)
    page = text_of(response)
    assert response.status_code == 200  # the form again, with its error, as the search's
    assert words in page
    assert re.search(
        rf'id="id_{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}"', page
    ) or re.search(rf'--error">\s*<label[^>]*for="id_{field}"', page)
    assert 'name="slot"' not in page


def test_a_tampered_slot_form_is_refused_with_a_message(client, dose2_session):
    site = dose2_session.site
    first_dose = site.sessions.filter(dose_number=1).first().slots.first()
    response = client.post(
        "/reserver/",
        {
            "slot": first_dose.pk,
            "site": site.pk,
            "dose1_vaccine": "comirnaty",
            "dose1_date": f"{TODAY + timedelta(days=3)}",
        },
        follow=True,
    )
    assert "futur" in text_of(response)
    assert not Hold.objects.exists()


def test_a_site_with_no_dose_left_to_promise_is_not_offered(client, dose2_session):
    bare = make_site(name="Centre sans doses", insee_code="75118")
    open_session(bare, day=tomorrow(2), dose_number=2)
    page = text_of(search(client))
    assert dose2_session.site.name in page
    assert "Centre sans doses" not in page


def test_its_dose_2_moves_from_the_booking_page_inside_the_interval(client, dose2_session):
    site = dose2_session.site
    later = open_session(site, day=tomorrow(5), dose_number=2).slots.first()
    first = dose2_session.slots.order_by("start").first()
    client.post(
        "/reserver/",
        {
            "slot": first.pk,
            "site": site.pk,
            "dose1_vaccine": "comirnaty",
            "dose1_date": f"{GIVEN_ON}",
        },
    )
    client.post("/reserver/personne/", details())
    booked = client.post("/reserver/code/", {"code": last_code()})
    move = booked["Location"] + "deplacer/2/"

    page = text_of(client.get(move))
    assert f'value="{later.pk}"' in page or f"day={later.date}" in page
    preview = text_of(client.get(move, {"slot": later.pk}))
    assert "Confirmer le déplacement" in preview
    done = client.post(move, {"slot": later.pk, "from": first.pk})
    assert done.status_code == 302
    assert Series.objects.get().appointments.get(status="booked").slot_id == later.pk
