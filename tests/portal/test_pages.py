"""The portal's pages through Django's test client: plain HTML forms, no JavaScript."""

import re
import time
from datetime import UTC, timedelta

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from django.utils.formats import date_format

from creneau.booking.models import Appointment, Contact, Hold, Series
from creneau.booking.services import hold_create
from creneau.booking.tokens import management_token, reference_display
from creneau.outreach.models import Notification, notification_to_index
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Slot
from tests.factories import make_site, open_session, two_dose_site

PHONE = "06 12 34 56 78"
BIRTH = {"birth_date_day": "2", "birth_date_month": "3", "birth_date_year": "1940"}


def last_code(address: str = "+33612345678") -> str:
    body = notification_render(
        notification=Notification.objects.filter(to_index=notification_to_index(address))
        .order_by("-id")
        .first()
    ).body
    return re.search(r"\b(\d{6})\b", body).group(1)


def a_minute_later() -> None:
    """A new code may be asked for once a minute per contact."""
    Contact.objects.update(code_sent_at=timezone.now() - timedelta(minutes=2))


def details(**fields) -> dict:
    return {"given_name": "Jeanne", "family_name": "Martin", **BIRTH, "phone": PHONE} | fields


def hold_first_slot(client, site, session, *, hold_seconds: float | None = None):
    slot = session.slots.order_by("start").first()
    with override_settings(**({"HOLD_MINUTES": hold_seconds / 60} if hold_seconds else {})):
        response = client.post("/reserver/", {"slot": slot.pk, "site": site.pk})
    assert response.status_code == 302 and response["Location"] == "/reserver/personne/"
    return slot


def hold_runs_out() -> None:
    """Wait until the holds end, as they do for someone who types slowly."""
    left = max(hold.expires_at for hold in Hold.objects.all()) - timezone.now()
    time.sleep(max(left.total_seconds(), 0) + 0.05)


def others_take_both_places(slot: Slot) -> None:
    """Two other people hold the slot's places (the expired hold's place among them)."""
    hold_create(slot_id=slot.pk)
    hold_create(slot_id=slot.pk)


def book(client, site, session, **fields):
    """Slot → details → code → confirmation; answers the confirmation page."""
    hold_first_slot(client, site, session)
    response = client.post("/reserver/personne/", details(**fields))
    if response.status_code == 302 and response["Location"] == "/reserver/code/":
        response = client.post("/reserver/code/", {"code": last_code()})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client.get(response["Location"])


def test_search_lists_the_nearest_site_with_its_next_slots_as_buttons(client, site_and_session):
    _site, session = site_and_session
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Centre Wagram" in page
    assert "1 lieu avec des créneaux près de 75017 Paris 17e Arrondissement" in page
    first = session.slots.order_by("start").first()
    assert f'name="slot" value="{first.pk}"' in page
    assert "km" in page


def test_search_with_nothing_near_says_how_far_the_nearest_slot_is(client, site_and_session):
    page = client.get("/", {"near": "48.5,2.3", "radius_km": "10"}).content.decode()
    assert "Aucun créneau libre à moins de 10 km" in page
    assert "Le lieu le plus proche avec des créneaux est à" in page
    assert "Centre Wagram" in page
    assert "0 800 009 110" in page


def test_search_shows_phone_only_sites_with_their_number(client, site_and_session):
    make_site(name="Pharmacie du Marché", phone="+33145678901", kind="pharmacy")
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Pharmacie du Marché" in page and "01 45 67 89 01" in page


def test_an_ambiguous_town_lists_the_candidates(client, reference):
    page = client.get("/", {"near": "Saint-Denis"}).content.decode()
    assert "Plusieurs communes" in page
    assert "Saint-Denis (93)" in page and "Saint-Denis (974)" in page


def test_the_site_page_shows_days_and_the_slots_of_the_chosen_day(client, site_and_session):
    site, session = site_and_session
    page = client.get(f"/centres/{site.pk}/").content.decode()
    assert "Centre Wagram" in page and f"geo:{site.latitude},{site.longitude}" in page
    assert f"?day={session.date.isoformat()}" in page
    assert "12 places" in page  # 6 ten-minute slots × 2 lines


def test_booking_without_javascript_from_slot_to_confirmation(client, site_and_session):
    site, session = site_and_session
    page = book(client, site, session).content.decode()
    series = Series.objects.get()
    assert "Rendez-vous confirmé" in page
    assert series.person.given_name == "Jeanne" and series.status == "active"
    assert list(series.appointments.values_list("dose_number", flat=True)) == [1, 2]
    assert Hold.objects.count() == 0
    assert Notification.objects.filter(kind="booking_confirmed").count() == 1


def test_booking_a_relative_next_needs_no_second_code(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    codes_sent = Notification.objects.filter(kind="verification_code").count()
    hold_first_slot(client, site, session)
    response = client.post("/reserver/personne/", details(given_name="Paul", phone=""))
    assert response.status_code == 302 and response["Location"].startswith("/rendez-vous/")
    assert Series.objects.filter(status="active").count() == 2
    assert Notification.objects.filter(kind="verification_code").count() == codes_sent


def test_an_ineligible_person_is_told_why_before_any_code(client, site_and_session):
    site, session = site_and_session
    hold_first_slot(client, site, session)
    child = {"birth_date_year": str(timezone.localdate().year - 8)}
    page = client.post("/reserver/personne/", details(**child)).content.decode()
    assert "Veuillez corriger ce qui suit" in page
    assert "Comirnaty est réservé aux personnes de 12 ans et plus" in page
    assert not Notification.objects.filter(kind="verification_code").exists()


def test_a_wrong_birth_date_is_an_error_on_the_field(client, site_and_session):
    site, session = site_and_session
    hold_first_slot(client, site, session)
    page = client.post(
        "/reserver/personne/", details(birth_date_day="31", birth_date_month="2")
    ).content.decode()
    assert "Cette date de naissance n&#x27;existe pas." in page
    assert 'href="#id_birth_date_0"' in page


def test_a_wrong_code_says_how_many_tries_are_left(client, site_and_session):
    site, session = site_and_session
    hold_first_slot(client, site, session)
    client.post("/reserver/personne/", details())
    wrong = "000000" if last_code() != "000000" else "111111"
    page = client.post("/reserver/code/", {"code": wrong}).content.decode()
    assert "Code incorrect. Il reste 4 essai(s)." in page
    assert not Series.objects.exists()


def test_a_slot_taken_meanwhile_sends_back_to_the_next_free_slots(client, site_and_session):
    site, session = site_and_session
    slot = session.slots.order_by("start").first()
    Slot.objects.filter(pk=slot.pk).update(booked=slot.capacity)
    response = client.post("/reserver/", {"slot": slot.pk, "site": site.pk}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/centres/{site.pk}/"
    assert "Ce créneau vient d&#x27;être complet" in page
    later = session.slots.order_by("start")[1]
    assert f'value="{later.pk}"' in page


def test_details_sent_after_the_hold_ran_out_keep_the_same_slot_while_it_is_free(
    client, site_and_session
):
    site, session = site_and_session
    slot = hold_first_slot(client, site, session, hold_seconds=1)
    hold_runs_out()
    response = client.post("/reserver/personne/", details())
    assert response["Location"] == "/reserver/code/"
    page = client.get("/reserver/code/").content.decode()
    assert "il vous est de nouveau réservé" in page
    client.post("/reserver/code/", {"code": last_code()})
    assert Appointment.objects.get(dose_number=1).slot_id == slot.pk
    assert sum(Slot.objects.values_list("booked", flat=True)) == 2
    assert not Hold.objects.exists()


def test_a_slot_lost_after_the_hold_ran_out_offers_the_nearest_and_keeps_the_details(
    client, site_and_session
):
    site, session = site_and_session
    slot = hold_first_slot(client, site, session, hold_seconds=1)
    hold_runs_out()
    others_take_both_places(slot)
    response = client.post("/reserver/personne/", details(), follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/reserver/autres-creneaux/"
    assert "retenu par d&#x27;autres personnes" in page
    assert "vous n'aurez pas à le retaper" in page
    offered = [int(value) for value in re.findall(r'name="slot" value="(\d+)"', page)]
    nearest = session.slots.order_by("start")[1]
    assert offered[0] == nearest.pk and slot.pk not in offered
    client.post("/reserver/", {"slot": nearest.pk, "site": site.pk})
    page = client.get("/reserver/personne/").content.decode()
    for typed in ('value="Jeanne"', 'value="Martin"', 'value="1940"', f'value="{PHONE}"'):
        assert typed in page
    client.post("/reserver/personne/", details())
    client.post("/reserver/code/", {"code": last_code()})
    assert Appointment.objects.get(dose_number=1).slot_id == nearest.pk


def test_manage_with_reference_and_code_then_move_and_cancel(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    a_minute_later()
    stranger = client.__class__()
    response = stranger.get(f"/rendez-vous/{series.reference}/")
    assert response.status_code == 302 and response["Location"].startswith("/gerer/")
    response = stranger.post("/gerer/", {"reference": series.reference, "phone": PHONE})
    assert response["Location"] == "/gerer/code/"
    response = stranger.post("/gerer/code/", {"code": last_code()})
    assert response.status_code == 302
    page = stranger.get(response["Location"]).content.decode()
    assert "Déplacer la dose 1" in page

    later = session.slots.order_by("start")[3]
    move = f"/rendez-vous/{series.reference}/deplacer/1/"
    response = stranger.post(move, confirmation(stranger.get(move, {"slot": later.pk})))
    assert response.status_code == 302
    dose1 = Appointment.objects.get(series=series, dose_number=1)
    assert dose1.slot_id == later.pk

    response = stranger.post(f"/rendez-vous/{series.reference}/annuler/")
    assert response.status_code == 302
    series.refresh_from_db()
    assert series.status == "cancelled"
    assert "Rendez-vous annulé" in stranger.get(response["Location"]).content.decode()


def confirmation(response) -> dict:
    """The fields of the move's confirmation form."""
    page = response.content.decode()
    assert "Confirmer le déplacement" in page, page[:3000]
    return dict(
        re.findall(r'<input type="hidden" name="(slot|from|dose2_slot)" value="(\d+)"', page)
    )


def test_a_move_shows_what_changes_and_waits_for_the_confirmation(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    dose1, dose2 = series.appointments.order_by("dose_number")
    move = f"/rendez-vous/{series.reference}/deplacer/1/"
    page = client.get(move).content.decode()
    assert "le retient pour vous" not in page and "avant votre confirmation" in page
    later = session.slots.order_by("start")[3]
    # Choosing a slot (with or without the script) shows the change and changes nothing.
    for choose in (client.get(move, {"slot": later.pk}), client.post(move, {"slot": later.pk})):
        page = choose.content.decode()
        assert choose.status_code == 200 and "Confirmer le déplacement" in page
        assert "09:00" in page and "09:30" in page
        assert "Inchangée" in page and "La seconde dose reste à sa date" in page
    assert Appointment.objects.get(pk=dose1.pk).slot_id == dose1.slot_id
    assert not Notification.objects.filter(kind="booking_moved").exists()
    response = client.post(move, confirmation(client.get(move, {"slot": later.pk})))
    assert response["Location"] == f"/rendez-vous/{reference_display(series.reference)}/"
    assert Appointment.objects.get(pk=dose1.pk).slot_id == later.pk
    assert Appointment.objects.get(pk=dose2.pk).slot_id == dose2.slot_id


def test_a_move_confirmed_twice_moves_once(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    move = f"/rendez-vous/{series.reference}/deplacer/1/"
    later = session.slots.order_by("start")[3]
    form = confirmation(client.get(move, {"slot": later.pk}))
    first = client.post(move, form)
    second = client.post(move, form)
    booking_page = f"/rendez-vous/{reference_display(series.reference)}/"
    assert first["Location"] == second["Location"] == booking_page
    assert "Rendez-vous déplacé" in client.get(second["Location"]).content.decode()
    assert Appointment.objects.get(series=series, dose_number=1).slot_id == later.pk
    assert Notification.objects.filter(kind="booking_moved").count() == 1
    assert Slot.objects.get(pk=later.pk).booked == 1


def test_moving_dose_1_far_shows_where_dose_2_goes_and_moves_it_there(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    # Dose 2, 42 days after the old date, would come 20 days after the new one: too soon.
    new = open_session(site, day=session.date + timedelta(days=22)).slots.order_by("start")[0]
    move = f"/rendez-vous/{series.reference}/deplacer/1/"
    response = client.get(move, {"slot": new.pk})
    page = response.content.decode()
    assert "La seconde dose est déplacée aussi" in page
    form = confirmation(response)
    dose2_after = Slot.objects.get(pk=form["dose2_slot"])
    assert dose2_after.date == session.date + timedelta(days=49)
    assert date_format(dose2_after.date, "l j F Y") in page
    client.post(move, form)
    assert Appointment.objects.get(series=series, dose_number=2).slot_id == dose2_after.pk


def test_manage_with_someone_elses_contact_finds_nothing(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    other = client.__class__()
    other.post("/gerer/", {"reference": series.reference, "phone": "06 98 76 54 32"})
    response = other.post("/gerer/code/", {"code": last_code("+33698765432")}, follow=True)
    assert "Rendez-vous introuvable" in response.content.decode()
    assert other.get(f"/rendez-vous/{series.reference}/annuler/").status_code == 404


def test_a_mistyped_reference_is_caught_before_any_code(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    reference = Series.objects.get().reference
    mistyped = reference[:-1] + ("A" if reference[-1] != "A" else "B")
    page = client.post("/gerer/", {"reference": mistyped, "phone": PHONE}).content.decode()
    assert "Cette référence n&#x27;existe pas" in page


def test_the_calendar_file_holds_both_doses(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    response = client.get(f"/rendez-vous/{series.reference}/agenda.ics")
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert body.count("BEGIN:VEVENT") == 2 and "\r\n" in body
    dose1 = Appointment.objects.get(series=series, dose_number=1).slot
    assert f"DTSTART:{dose1.start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}" in body
    assert "LOCATION:Centre Wagram\\, 12 avenue de Wagram" in body


def test_the_printable_version_has_the_reference(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    page = client.get(f"/rendez-vous/{series.reference}/?imprimer").content.decode()
    assert series.reference[:4] in page and "Centre Wagram" in page


def test_the_eligibility_questionnaire_explains_its_answer(client, reference):
    page = client.get("/eligibilite/", {**BIRTH}).content.decode()
    assert "Oui, la vaccination vous est ouverte." in page
    child = {**BIRTH, "birth_date_year": str(timezone.localdate().year - 8)}
    assert "Pas encore." in client.get("/eligibilite/", child).content.decode()


def test_the_demo_outbox_exists_only_in_demo(client, reference, settings):
    settings.DEMO = False
    assert client.get("/demo/messages/").status_code == 404
    settings.DEMO = True
    assert client.get("/demo/messages/", {"to": PHONE}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/centres/999999/",
        "/centres/1/?day=not-a-date",
        "/?near=" + "x" * 500,
        "/?near=75017&date_from=2001-01-01",
        "/?near=75017&radius_km=7",
        "/?near=%00",
        "/rendez-vous/NOPE/agenda.ics",
        "/eligibilite/?birth_date_day=1&birth_date_month=1&birth_date_year=3000",
    ],
)
def test_bad_input_gets_a_page_that_says_why_never_a_500(client, site_and_session, url):
    response = client.get(url)
    assert response.status_code < 500


def test_bad_posts_change_nothing(client, site_and_session):
    site, _ = site_and_session
    assert client.post("/reserver/", {"slot": "abc", "site": site.pk}).status_code == 400
    assert client.post("/reserver/", {"slot": "99999999", "site": site.pk}).status_code == 404
    assert not Hold.objects.exists()


def test_the_english_version(client, site_and_session):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/", {"near": "75017"}).content.decode()
    assert '<html lang="en"' in page


def test_pages_are_french_even_for_a_browser_set_to_english(client, reference):
    page = client.get("/", headers={"Accept-Language": "en-GB,en"}).content.decode()
    assert '<html lang="fr"' in page


def test_a_missing_page_is_a_portal_page(client, reference):
    response = client.get("/nulle-part/")
    assert response.status_code == 404
    assert "Page introuvable" in response.content.decode()


def test_an_expired_form_says_so_plainly(reference):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/reserver/", {"slot": "1", "site": "1"})
    assert response.status_code == 403
    assert "Ce formulaire a expiré" in response.content.decode()


def test_the_link_in_the_confirmation_message_opens_the_booking(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    message = notification_render(
        notification=Notification.objects.get(kind="booking_confirmed")
    ).body
    page, key = re.search(
        r"http://127\.0\.0\.1:8000(/rendez-vous/\S+/ouvrir/)#cle=(\w+)", message
    ).groups()
    stranger = client.__class__()
    # The key is in the fragment, which the browser keeps to itself: the page it opens
    # has the form that portal.js fills with it and posts, and says what to do without it.
    landing = stranger.get(page).content.decode()
    assert "data-open-link" in landing and "Recevoir un code" in landing
    response = stranger.post(page, {"cle": key})
    assert response.status_code == 302 and "cle" not in response["Location"]
    assert "Rendez-vous confirmé" in stranger.get(response["Location"]).content.decode()
    assert client.__class__().post(page, {"cle": key + "0"}).status_code == 404
    assert client.__class__().post(page, {}).status_code == 404


def test_a_link_sent_before_keys_moved_to_the_fragment_still_opens(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    display = reference_display(series.reference)
    key = management_token(reference=series.reference, salt=series.token_salt)
    stranger = client.__class__()
    response = stranger.get(f"/rendez-vous/{display}/", {"cle": key})
    # The key leaves the address bar at once; the session remembers the booking.
    assert response.status_code == 302 and "cle=" not in response["Location"]
    assert "Rendez-vous confirmé" in stranger.get(response["Location"]).content.decode()
    assert client.__class__().get(f"/rendez-vous/{display}/", {"cle": key + "0"}).status_code == 404


def test_a_restricted_site_says_who_it_is_for(client, reference):
    two_dose_site(name="Centre des soignants", restricted_to=["caregiver"])
    page = client.get("/", {"near": "75017"}).content.decode()
    assert "Réservé aux :" in page and "Centre des soignants" in page


def test_a_code_typed_after_the_hold_ran_out_books_the_same_slot_while_it_is_free(
    client, site_and_session
):
    site, session = site_and_session
    slot = hold_first_slot(client, site, session, hold_seconds=1)
    client.post("/reserver/personne/", details())
    hold_runs_out()
    response = client.post("/reserver/code/", {"code": last_code()})
    assert response["Location"].startswith("/rendez-vous/")
    assert Appointment.objects.get(dose_number=1).slot_id == slot.pk


def test_a_code_typed_after_the_slot_was_lost_verifies_the_contact_and_keeps_the_details(
    client, site_and_session
):
    site, session = site_and_session
    slot = hold_first_slot(client, site, session, hold_seconds=1)
    client.post("/reserver/personne/", details())
    hold_runs_out()
    others_take_both_places(slot)
    response = client.post("/reserver/code/", {"code": last_code()})
    assert response["Location"] == "/reserver/autres-creneaux/"
    # A slot offered but taken before the click: the details stay all the same.
    taken = session.slots.order_by("start")[2]
    Slot.objects.filter(pk=taken.pk).update(booked=F("capacity"))
    client.post("/reserver/", {"slot": taken.pk, "site": site.pk})
    nearest = session.slots.order_by("start")[1]
    client.post("/reserver/", {"slot": nearest.pk, "site": site.pk})
    page = client.get("/reserver/personne/").content.decode()
    assert 'value="Jeanne"' in page and "déjà vérifié" in page
    response = client.post("/reserver/personne/", details(phone=""))
    assert response["Location"].startswith("/rendez-vous/")
    assert Appointment.objects.get(dose_number=1).slot_id == nearest.pk


def test_the_details_page_says_once_what_happens_when_time_runs_out(client, site_and_session):
    site, session = site_and_session
    hold_first_slot(client, site, session)
    page = client.get("/reserver/personne/").content.decode()
    assert "Passé ce délai" in page and page.count("tout de même valider") == 1


def test_the_code_page_shows_no_error_before_anything_is_typed(client, site_and_session):
    site, session = site_and_session
    hold_first_slot(client, site, session)
    client.post("/reserver/personne/", details())
    page = client.get("/reserver/code/").content.decode()
    assert "Code reçu" in page and "Veuillez corriger" not in page


def test_a_two_digit_year_is_asked_again_in_four_digits(client, site_and_session):
    page = client.get(
        "/eligibilite/", {"birth_date_day": "1", "birth_date_month": "1", "birth_date_year": "28"}
    ).content.decode()
    assert "s&#x27;écrit en 4 chiffres, par exemple 1928" in page
    assert "supérieure ou égale à 1880" not in page


def test_month_abbreviations_are_written_as_french_writes_them(client, site_and_session):
    site, _session = site_and_session
    page = client.get(f"/centres/{site.pk}/").content.decode()
    days = re.findall(r'class="calendar__date">([^<]+)<', page)
    assert days
    # "3 déc.", not "3 Déc": French abbreviations are lower case, with their full stop.
    assert all(re.fullmatch(r"\d{1,2} [a-zéû]+\.?", day) for day in days), days


def test_a_dose_is_said_in_the_feminine(client, site_and_session):
    """ "Dose 1 : Confirmée", not "Confirmé" (the label of a rendez-vous)."""
    site, session = site_and_session
    page = book(client, site, session).content.decode()
    assert "Confirmée" in page and ">Confirmé<" not in page


def test_the_session_remembers_the_booking_not_its_key(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    key = management_token(reference=series.reference, salt=series.token_salt)

    assert client.session["portal_opened"] == [series.reference]
    assert key not in str(client.session.load())
    page = client.get(f"/rendez-vous/{reference_display(series.reference)}/")
    assert page.status_code == 200


def test_a_session_from_before_with_keys_still_opens_its_booking(client, site_and_session):
    site, session = site_and_session
    book(client, site, session)
    series = Series.objects.get()
    before = client.session
    before["portal_opened"] = {series.reference: "a key as sessions kept it then"}
    before.save()

    page = client.get(f"/rendez-vous/{reference_display(series.reference)}/")

    assert page.status_code == 200
