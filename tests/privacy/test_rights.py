"""A person's rights: what is held about them (a page and JSON) and its erasure, on the
portal's booking page (after the link or the code) and at the call centre."""

import json
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, Contact, Person, Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.care.models import Administration
from creneau.care.services import appointment_check_in, subject_reference
from creneau.core.errors import InvalidInput, NotFound
from creneau.outreach.models import Notification
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase
from creneau.scheduling.models import Slot
from tests.booking.test_dose2_cancel import dose1_given
from tests.factories import STAFF, at, person, tomorrow, two_dose_site, verified_contact
from tests.portal.test_cancel_pages import opened

DAY = tomorrow()


def booked(session, *, phone="+33612345678", **names):
    slot = session.slots.order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=at(DAY, 7)).hold.pk,
        contact=verified_contact(phone),
        person=person(**names),
        now=at(DAY, 7),
    )


@pytest.fixture
def session(reference):
    return two_dose_site(name="Centre Wagram", dose1_day=DAY)[1]


@pytest.fixture
def course(session):
    return booked(session)


# The services


def test_the_data_held_names_the_person_the_contact_the_course_and_the_messages(course):
    data = person_data(person=course.series.person)
    assert data["person"]["given_name"] == "Jeanne" and data["contact"]["address"] == (
        "+33612345678"
    )
    (held,) = data["courses"]
    assert [a["dose_number"] for a in held["appointments"]] == [1, 2]
    assert [m["kind"] for m in data["messages"]] == ["booking_confirmed"]


def test_erasure_cancels_through_the_cancellation_service_then_erases(course):
    slot_ids = [a.slot_id for a in course.appointments]
    counts = person_erase(series_id=course.series.pk, now=at(DAY, 8))

    assert counts["cancelled"] == 1 and counts["persons"] == 1 and counts["contacts"] == 1
    assert not Person.objects.exists() and not Series.objects.exists()
    assert not Appointment.objects.exists() and not Contact.objects.exists()
    # The places went back as for any cancellation, and the contact is told.
    assert [Slot.objects.get(pk=pk).booked for pk in slot_ids] == [0, 0]
    assert list(Notification.objects.values_list("kind", "status")) == [
        ("booking_confirmed", "pending"),
        ("booking_cancelled", "pending"),
    ]
    event = AuditEvent.objects.get(object_type="booking.person")
    assert event.action == "delete" and event.actor is None and event.details["persons"] == 1


def test_erasing_twice_is_a_not_found_the_second_time(course):
    series_id = course.series.pk
    person_erase(series_id=series_id, now=at(DAY, 8))
    with pytest.raises(NotFound):
        person_erase(series_id=series_id, now=at(DAY, 8))
    assert AuditEvent.objects.filter(object_type="booking.person").count() == 1


def test_sent_messages_go_with_the_person(course):
    Notification.objects.update(status="sent", sent_at=timezone.now())
    person_erase(series_id=course.series.pk, now=at(DAY, 8))
    assert list(Notification.objects.values_list("kind", flat=True)) == ["booking_cancelled"]


def test_a_contact_a_relative_still_uses_stays(session, course):
    booked(session, given_name="Paul")
    person_erase(series_id=course.series.pk, now=at(DAY, 8))
    assert Contact.objects.count() == 1
    assert list(Person.objects.values_list("given_name", flat=True)) == ["Paul"]


def test_a_dose_given_stays_detached_and_dose_2_is_cancelled(course, django_user_model):
    dose1_given(course, django_user_model)
    match_key = course.series.person.match_key
    counts = person_erase(series_id=course.series.pk, now=at(DAY, 12))
    assert counts["doses_kept"] == 1
    record = Administration.objects.get()
    assert record.appointment_id is None and record.dose_number == 1
    assert record.subject == subject_reference(match_key=match_key)
    assert record.site_id == course.series.site_id


def test_a_person_checked_in_is_not_erased_and_nothing_changes(course):
    dose1 = min(course.appointments, key=lambda a: a.dose_number)
    appointment_check_in(
        actor=STAFF, appointment_id=dose1.pk, site_id=dose1.slot.site_id, now=at(DAY, 8, 55)
    )
    with pytest.raises(InvalidInput):
        person_erase(series_id=course.series.pk, now=at(DAY, 9))
    assert Person.objects.count() == 1
    assert not AuditEvent.objects.filter(object_type="booking.person").exists()


# The portal


def test_the_booking_page_links_to_the_data_and_the_json_download(client, course):
    display = opened(client, course)
    page = client.get(reverse("portal:booking", args=[display])).content.decode()
    assert reverse("portal:data", args=[display]) in page
    page = unescape(client.get(reverse("portal:data", args=[display])).content.decode())
    assert "Jeanne" in page and "06 12 34 56 78" in page and "Rendez-vous confirmé" in page
    response = client.get(reverse("portal:data_json", args=[display]))
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(response.content)["person"]["family_name"] == "Martin"


def test_the_data_pages_need_the_link_or_the_code(client, course):
    from creneau.booking import tokens

    display = tokens.reference_display(course.series.reference)
    for name in ("portal:data", "portal:data_json", "portal:erase"):
        response = client.get(reverse(name, args=[display]))
        assert response.status_code == 302 and "/gerer/" in response["Location"]
    assert client.post(reverse("portal:erase", args=[display])).status_code == 302
    assert Person.objects.count() == 1


def test_an_unknown_reference_is_a_404_not_a_500(client, course):
    opened(client, course)
    for reference in ("XXXXXXXXX", "é" * 300, "A" * 9):
        for name in ("portal:data", "portal:data_json", "portal:erase"):
            assert client.get(reverse(name, args=[reference])).status_code in (302, 404)


def test_the_person_erases_after_confirming(client, course):
    display = opened(client, course)
    page = unescape(client.get(reverse("portal:erase", args=[display])).content.decode())
    assert "Oui, effacer" in page and "sans nom" in page
    assert Person.objects.count() == 1  # nothing before the confirmation

    response = client.post(reverse("portal:erase", args=[display]))

    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    assert "Vos données sont effacées" in unescape(client.get("/").content.decode())
    assert not Person.objects.exists()
    assert client.get(reverse("portal:booking", args=[display])).status_code in (302, 404)
    # Twice (a double click, another tab): nothing more, no 500.
    assert client.post(reverse("portal:erase", args=[display])).status_code in (302, 404)


def test_a_refused_erasure_says_why_on_the_booking_page(client, course):
    display = opened(client, course)
    dose1 = min(course.appointments, key=lambda a: a.dose_number)
    Appointment.objects.filter(pk=dose1.pk).update(status="arrived")  # at the desk now

    response = client.post(reverse("portal:erase", args=[display]))

    page = unescape(client.get(response["Location"]).content.decode())
    assert "déjà sur place" in page and Person.objects.count() == 1


# The call centre


def test_the_agent_reads_and_exports_the_callers_data_and_both_are_audited(agent, course):
    series_id = course.series.pk
    page = unescape(agent.get(reverse("callcenter:file", args=[series_id])).content.decode())
    assert reverse("callcenter:data", args=[series_id]) in page
    page = unescape(agent.get(reverse("callcenter:data", args=[series_id])).content.decode())
    assert "Jeanne" in page and "Messages envoyés" in page
    response = agent.get(reverse("callcenter:data_json", args=[series_id]))
    assert json.loads(response.content)["courses"][0]["status"] == "active"
    assert AuditEvent.objects.filter(action="export", object_id=str(series_id)).count() == 1
    assert AuditEvent.objects.filter(
        action="view", summary="Données de l'appelant (droit d'accès)"
    ).exists()


def test_the_agent_erases_for_the_caller_as_a_staff_action(agent, course):
    series_id = course.series.pk
    page = unescape(agent.get(reverse("callcenter:erase", args=[series_id])).content.decode())
    assert "l'appelant a confirmé" in page

    response = agent.post(reverse("callcenter:erase", args=[series_id]))

    assert response["Location"] == reverse("callcenter:home")
    assert not Person.objects.exists()
    event = AuditEvent.objects.get(object_type="booking.person")
    assert event.actor.username == "agent" and event.site_id == course.series.site_id
    # The cancellation the erasure made is the agent's too.
    assert AuditEvent.objects.filter(
        object_type="booking.series", action="change", actor__username="agent"
    ).exists()
    assert agent.get(reverse("callcenter:erase", args=[series_id])).status_code == 404
    assert agent.post(reverse("callcenter:erase", args=[series_id])).status_code == 404


def test_unknown_ids_at_the_call_centre_are_404s(agent, course):
    for name in ("callcenter:data", "callcenter:data_json", "callcenter:erase"):
        assert agent.get(reverse(name, args=[999999])).status_code == 404
    assert agent.post(reverse("callcenter:erase", args=[999999])).status_code == 404
    assert Person.objects.count() == 1


def test_the_personal_data_page_states_the_periods_in_force(client, db, settings):
    settings.RETENTION_COURSE_DAYS = 183
    settings.AUDIT_RETENTION_DAYS = 200
    settings.RETENTION_INVITEE_DAYS = 90
    page = unescape(client.get(reverse("portal:privacy")).content.decode())
    assert "183 jours (environ 6 mois) après la fin" in page
    assert "90 jours après la dernière mise à jour du fichier" in page
    assert "200 jours, durée fixée par l'autorité sanitaire" in page
