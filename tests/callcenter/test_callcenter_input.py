"""The call centre's doors against bad input and for the audit log: posted addresses,
dose numbers and reasons are checked, and every page showing a caller is logged."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.audit.services import audit_unsealed
from creneau.booking.addresses import contact_address_index
from creneau.booking.models import Contact, Series
from creneau.booking.tokens import _check_character
from tests.callcenter.test_callcenter import existing_booking
from tests.factories import two_dose_site


def test_a_full_slot_sends_back_only_to_a_page_of_ours(agent, centre):
    _site, session = centre
    full = session.slots.order_by("start").first()
    type(full).objects.filter(pk=full.pk).update(booked=full.capacity)
    for back, expected in (
        ("https://evil.example/", reverse("callcenter:home")),
        ("//evil.example/x", reverse("callcenter:home")),
        ("/callcenter/creneaux/?near=75017", "/callcenter/creneaux/?near=75017"),
    ):
        response = agent.post(reverse("callcenter:hold"), {"slot": full.pk, "back": back})
        assert response.status_code == 302 and response["Location"] == expected


def test_the_move_and_second_dose_pages_are_audited_as_views(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    assert agent.get(reverse("callcenter:move", args=[series.pk, 2])).status_code == 200
    assert agent.get(reverse("callcenter:dose2", args=[series.pk])).status_code == 200
    summaries = set(
        AuditEvent.objects.filter(action="view", object_id=str(series.pk)).values_list(
            "summary", flat=True
        )
    )
    assert summaries == {"Nouvelle date pour la dose 2", "Nouvelle date de 2e dose"}


@pytest.mark.parametrize("dose_number", [0, 3, 99])
def test_a_dose_the_course_does_not_have_is_not_found(agent, centre, dose_number):
    _site, session = centre
    series = existing_booking(session)
    assert agent.get(reverse("callcenter:move", args=[series.pk, dose_number])).status_code == 404


def test_a_reason_too_long_is_a_400_and_cancels_nothing(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    response = agent.post(reverse("callcenter:cancel", args=[series.pk]), {"reason": "x" * 301})
    assert response.status_code == 400 and "300" in response.content.decode()
    assert Series.objects.get(pk=series.pk).status == "active"
    assert not AuditEvent.objects.filter(action="change").exists()


def test_a_search_that_finds_one_caller_is_in_the_log_of_their_site(agent, centre):
    site, session = centre
    existing_booking(session)
    agent.get(reverse("callcenter:home"), {"q": "06 11 22 33 44"})
    event = AuditEvent.objects.get(object_type="callcenter.search")
    assert event.site == site and event.department_id == site.department_id


@pytest.mark.parametrize("data", ["268245BY", "ABCDEFGH", "12345678"])
def test_a_misheard_reference_is_told_not_taken_for_a_new_caller(agent, centre, data):
    right = data + _check_character(data)
    typo = right[:-1] + ("A" if right[-1] != "A" else "B")
    page = agent.get(reverse("callcenter:home"), {"q": typo})
    assert page.status_code == 400 and "vérifiez chaque caractère" in page.content.decode()


def test_a_caller_on_file_with_a_landline_is_still_found_by_it(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    Contact.objects.filter(pk=series.contact_id).update(
        address="+33142764040", address_index=contact_address_index("+33142764040")
    )
    page = agent.get(reverse("callcenter:home"), {"q": "01 42 76 40 40"}).content.decode()
    assert f'href="/callcenter/parcours/{series.pk}/"' in page


def test_a_birth_date_in_eight_digits_finds_the_caller_as_the_booking_form_takes_it(agent, centre):
    _site, session = centre
    series = existing_booking(session, family_name="Lambert")
    born = series.person.birth_date
    for query in (f"Lambert {born:%d%m%Y}", f"{born:%d%m%Y} lambert", f"Lambert {born:%d/%m/%Y}"):
        page = agent.get(reverse("callcenter:home"), {"q": query}).content.decode()
        assert f'href="/callcenter/parcours/{series.pk}/"' in page, query
        assert "nouvel appelant" not in page, query


def test_a_name_is_found_whole_with_its_birth_date_as_the_screen_says(agent, centre):
    """Names are encrypted, found by a blind index: equality only, and the help says so."""
    _site, session = centre
    series = existing_booking(session, family_name="Lambert-Rivière")
    born = f"{series.person.birth_date:%d/%m/%Y}"
    home = agent.get(reverse("callcenter:home")).content.decode()
    assert "le nom de famille en entier" in html.unescape(home)
    link = f'href="/callcenter/parcours/{series.pk}/"'
    for whole in (f"LAMBERT RIVIERE {born}", f"lambert-rivière {born}"):
        assert link in agent.get(reverse("callcenter:home"), {"q": whole}).content.decode()
    for part in (f"Lambert {born}", f"Lamb {born}"):
        assert link not in agent.get(reverse("callcenter:home"), {"q": part}).content.decode()


@pytest.mark.parametrize(
    "query, said",
    [
        ("06 12 34 56", "Numéro de téléphone invalide"),
        # Eight digits that make no birth date: a number cut short, not a date.
        ("06123456", "Numéro de téléphone invalide"),
        ("jeanne@", "Adresse e-mail invalide"),
        ("15041948", "Donnez le nom avec la date de naissance"),
    ],
)
def test_a_search_that_cannot_match_is_told_not_taken_for_a_new_caller(agent, centre, query, said):
    response = agent.get(reverse("callcenter:home"), {"q": query})
    page = response.content.decode()
    assert response.status_code == 400 and said in page
    assert "nouvel appelant" not in page


SITES = ("Caserne Champerret", "Centre Wagram")


def test_a_site_reserved_for_some_people_is_marked_in_the_slots_and_the_booking_form(agent, centre):
    two_dose_site(name="Caserne Champerret", restricted_to=["firefighter"])
    page = html.unescape(agent.get(reverse("callcenter:slots"), {"near": "75017"}).content.decode())
    sections = {name: next(s for s in page.split("<section") if name in s) for name in SITES}
    caserne = sections["Caserne Champerret"]
    assert "Réservé aux : Sapeur-pompier" in caserne
    badge = re.search(r'id="(restricted-\d+)"', caserne)[1]
    # Each of its slots says so to a screen reader too.
    slot = re.search(r'<button[^>]*name="slot" value="(\d+)"[^>]*>', caserne)
    assert f'aria-describedby="{badge}"' in slot[0]
    # The Centre Wagram, open to all, is not marked.
    assert "Réservé aux" not in sections["Centre Wagram"]
    agent.post(reverse("callcenter:hold"), {"slot": slot[1]})
    form = html.unescape(agent.get(reverse("callcenter:person")).content.decode())
    assert "Lieu réservé aux : Sapeur-pompier" in form


def test_the_slot_search_takes_a_day_typed_as_the_caller_says_it(agent, centre):
    later = timezone.localdate() + timedelta(days=5)
    two_dose_site(name="Centre Batignolles", dose1_day=later)
    slots = reverse("callcenter:slots")
    everything = agent.get(slots, {"near": "75017"}).content.decode()
    assert "Centre Wagram" in everything and "Centre Batignolles" in everything
    for typed in (f"{later:%d/%m/%Y}", f"{later:%d%m%Y}"):
        page = agent.get(slots, {"near": "75017", "day": typed}).content.decode()
        assert "Centre Batignolles" in page and "Centre Wagram" not in page, typed
        assert f'value="{typed}"' in page
    response = agent.get(slots, {"near": "75017", "day": "31/02/2030"})
    assert response.status_code == 400 and "Saisissez une date valide" in response.content.decode()
    past = timezone.localdate() - timedelta(days=3)
    response = agent.get(slots, {"near": "75017", "day": f"{past:%d%m%Y}"})
    assert (
        response.status_code == 400 and "La date de début est passée" in response.content.decode()
    )


def test_every_search_is_audited_with_its_terms_as_typed(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    agent.get(reverse("callcenter:home"), {"q": " 06 11 22 33 44 "})
    agent.get(reverse("callcenter:home"), {"q": "Personne Inconnue 02/03/1940"})
    # A reference misheard: refused with a 400, and still who looked for what.
    typo = "268245BY" + _check_character("268245BY")
    typo = typo[:-1] + ("A" if typo[-1] != "A" else "B")
    assert agent.get(reverse("callcenter:home"), {"q": typo}).status_code == 400
    searches = AuditEvent.objects.filter(object_type="callcenter.search").order_by("pk")
    # The terms are personal data: sealed in the log, read with the keys.
    assert not any("06 11" in str(event.details) for event in searches)
    terms = [
        (audit_unsealed(event.details["query"]), event.details["series"]) for event in searches
    ]
    assert terms == [
        ("06 11 22 33 44", [series.pk]),
        ("Personne Inconnue 02/03/1940", []),
        (typo, []),
    ]
    assert all(event.actor is not None for event in searches)
