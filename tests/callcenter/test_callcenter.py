"""The call centre: find a caller, book for them (eligibility applies, an override needs a
reason), move, cancel; every look and change audited; only agents get in."""

import html
import re
from datetime import date

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.booking.addresses import contact_address_index
from creneau.booking.models import Appointment, Contact, Hold, Series
from creneau.booking.services import booking_confirm, contact_verification_start, hold_create
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.staff.models import StaffProfile
from tests.factories import person, verified_contact
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role
HOME = reverse("callcenter:home")


def existing_booking(session, phone="+33611223344", **who):
    slot = session.slots.order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact(phone),
        person=person(**who),
    ).series


def choose_first_slot(agent, contact=""):
    page = agent.get(reverse("callcenter:slots"), {"near": "75017", "contact": contact})
    assert page.status_code == 200
    slot = re.search(r'name="slot" value="(\d+)"', page.content.decode())[1]
    return agent.post(reverse("callcenter:hold"), {"slot": slot, "contact": contact})


DETAILS = {
    "given_name": "Jeanne",
    "family_name": "Martin",
    "birth_date": "02031940",
    "phone": "06 12 34 56 78",
}


def test_an_agent_books_for_a_new_caller_who_gets_the_sms(agent, centre):
    assert agent.get(HOME, {"q": "06 12 34 56 78"}).status_code == 200
    assert choose_first_slot(agent, contact="06 12 34 56 78")["Location"] == reverse(
        "callcenter:person"
    )
    response = agent.post(reverse("callcenter:person"), DETAILS, follow=True)
    page = response.content.decode()
    series = Series.objects.get()
    assert "Réservé : référence" in page and "<bdi>MARTIN</bdi> <bdi>Jeanne</bdi>" in page
    assert series.person.birth_date == date(1940, 3, 2)
    assert series.contact.address == "+33612345678"
    assert Appointment.objects.filter(series=series, status="booked").count() == 2
    sms = Notification.objects.get(kind="booking_confirmed")
    assert sms.to == "+33612345678" and sms.channel == "sms"
    assert AuditEvent.objects.filter(action="create", object_id=str(series.pk)).exists()


def test_a_double_submit_books_once(agent, centre):
    choose_first_slot(agent)
    agent.post(reverse("callcenter:person"), DETAILS)
    agent.post(reverse("callcenter:person"), DETAILS)
    assert Series.objects.count() == 1


def test_the_caller_is_found_by_phone_reference_or_name_and_birth_date(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    born = series.person.birth_date
    reference = f"{series.reference[:4]}-{series.reference[4:8]}-{series.reference[8:]}"
    for query in (
        "06 11 22 33 44",
        "+33 6 11 22 33 44",
        reference.lower(),
        f"martin {born:%d/%m/%Y}",
        f"Jeanne Martin {born:%Y-%m-%d}",
    ):
        page = agent.get(HOME, {"q": query})
        assert f'href="/callcenter/parcours/{series.pk}/"' in page.content.decode(), query
    # A mistyped reference (its check character catches it) finds nobody.
    typo = reference[:-1] + ("A" if reference[-1] != "A" else "B")
    assert agent.get(HOME, {"q": typo}).status_code == 400
    page = agent.get(reverse("callcenter:file", args=[series.pk])).content.decode()
    assert "<bdi>MARTIN</bdi> <bdi>Jeanne</bdi>" in page
    assert AuditEvent.objects.filter(action="view", object_id=str(series.pk)).exists()
    assert AuditEvent.objects.filter(object_type="callcenter.search").count() >= 5


def test_a_refusal_then_an_override_with_a_reason_is_recorded(agent, centre):
    choose_first_slot(agent)
    young = {**DETAILS, "birth_date": "02/03/2016"}  # ten: under every rule
    response = agent.post(reverse("callcenter:person"), young)
    assert response.status_code == 400 and not Series.objects.exists()
    assert "Raison de la dérogation" in response.content.decode()
    # No reason, no override.
    assert agent.post(reverse("callcenter:person"), young).status_code == 400
    assert not Series.objects.exists()
    agent.post(
        reverse("callcenter:person"), {**young, "override_reason": "Avis du médecin traitant."}
    )
    series = Series.objects.get()
    assert series.override_reason == "Avis du médecin traitant."
    assert series.override_by.username == "agent"
    event = AuditEvent.objects.get(action="override")
    assert event.object_id == str(series.pk) and "médecin" in event.summary


def test_move_and_cancel_for_a_caller(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    dose1 = series.appointments.get(dose_number=1)
    page = agent.get(reverse("callcenter:move", args=[series.pk, 1])).content.decode()
    slots = [int(pk) for pk in re.findall(r'name="slot" value="(\d+)"', page)]
    target = next(pk for pk in slots if pk != dose1.slot_id)
    agent.post(reverse("callcenter:move", args=[series.pk, 1]), {"slot": target})
    assert series.appointments.get(dose_number=1, status="booked").slot_id == target
    agent.post(reverse("callcenter:cancel", args=[series.pk]), {"reason": "Hospitalisée."})
    assert Series.objects.get(pk=series.pk).status == "cancelled"
    assert Notification.objects.filter(kind="booking_moved").count() == 1
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1
    assert AuditEvent.objects.filter(action="change", object_id=str(series.pk)).count() == 2


def test_a_relative_is_booked_under_the_same_contact(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    page = agent.get(reverse("callcenter:file", args=[series.pk])).content.decode()
    relative_url = re.search(r'href="(/callcenter/\?contact=[^"]+)"', page)[1].replace("&amp;", "&")
    home = agent.get(relative_url).content.decode()
    assert 'name="contact" value="+33611223344"' in home
    choose_first_slot(agent, contact="+33611223344")
    agent.post(
        reverse("callcenter:person"), {**DETAILS, "given_name": "Paul", "phone": "+33611223344"}
    )
    assert (
        Contact.objects.get(address_index=contact_address_index("+33611223344")).series.count() == 2
    )


@pytest.mark.parametrize(
    "url, data",
    [
        ("callcenter:hold", {"slot": "abc"}),
        ("callcenter:hold", {"slot": "9" * 40}),
        ("callcenter:hold", {"slot": "999999"}),
    ],
)
def test_bad_input_is_4xx_or_a_message_never_a_500(agent, centre, url, data):
    response = agent.post(reverse(url), data)
    assert response.status_code in (302, 400, 404)
    assert not Series.objects.exists()


def test_bad_searches_are_400(agent, centre):
    assert agent.get(HOME, {"q": "???"}).status_code == 400
    assert agent.get(reverse("callcenter:slots"), {"near": "zzzzqqq"}).status_code == 400
    assert agent.get(reverse("callcenter:person")).status_code == 302  # nothing held


def test_only_call_centre_agents_get_in(client, centre):
    staff_sign_in(client, "nurse")
    for name in ("callcenter:home", "callcenter:slots", "callcenter:person"):
        assert client.get(reverse(name)).status_code == 404
    client.logout()
    assert client.get(HOME)["Location"].startswith(reverse("backoffice:login"))


def test_booking_someone_already_booked_says_so_and_shows_their_booking(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    born = series.person.birth_date
    places = sum(session.slots.values_list("booked", flat=True))
    choose_first_slot(agent, contact="+33611223344")
    response = agent.post(
        reverse("callcenter:person"),
        {**DETAILS, "birth_date": f"{born:%d%m%Y}", "phone": "+33611223344"},
        follow=True,
    )
    page = html.unescape(response.content.decode())
    assert response.redirect_chain[-1][0] == reverse("callcenter:file", args=[series.pk])
    assert "déjà un rendez-vous en cours" in page and "Rien n'a changé" in page
    assert "Réservé : référence" not in page and "confirmation est envoyée" not in page
    # Its details and what can be done with it, as for any caller's file.
    assert series.reference[:4] in page and "Déplacer la dose 1" in page
    # The place chosen is given back, and no second message goes out.
    assert sum(session.slots.values_list("booked", flat=True)) == places
    assert Series.objects.count() == 1
    assert Notification.objects.filter(kind="booking_confirmed").count() == 1


def test_choosing_another_slot_gives_the_first_one_back_at_once(agent, centre):
    _site, session = centre
    choose_first_slot(agent)
    choose_first_slot(agent)
    assert Hold.objects.count() == 1
    assert sum(session.slots.values_list("booked", flat=True)) == 1


def test_cancelling_a_course_cancelled_already_says_so_and_sends_nothing(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    first = agent.post(
        reverse("callcenter:cancel", args=[series.pk]), {"reason": ""}, follow=True
    ).content.decode()
    assert "Annulé. La confirmation est envoyée." in first
    again = agent.post(
        reverse("callcenter:cancel", args=[series.pk]), {"reason": ""}, follow=True
    ).content.decode()
    assert "était déjà annulé. Rien n&#x27;a changé." in again
    assert "Annulé. La confirmation est envoyée." not in again
    assert Notification.objects.filter(kind="booking_cancelled").count() == 1


def test_the_caller_s_file_lists_what_was_sent_without_its_text(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    contact_verification_start(phone="+33611223344")
    code = notification_render(notification=Notification.objects.get(kind="verification_code")).body

    page = agent.get(reverse("callcenter:file", args=[series.pk])).content.decode()

    assert "Code de vérification (le code n&#x27;est pas conservé)" in page
    assert "Confirmation de rendez-vous" in page and "À envoyer" in page
    assert re.search(r"\d{6}", code)[0] not in page
    assert "ouvrir/#cle=" not in page
