"""The call centre books a dose 2 alone for a caller whose dose 1 was given elsewhere:
the slot list takes the day of dose 1 with its vaccine and offers that product's
second-dose places inside the interval; the course shows the declared dose 1; its dose 2
is cancelled from the caller's file. A declaration that cannot be is a form error."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Dose1Declarant, Series
from creneau.booking.selectors import dose1_elsewhere_check
from creneau.booking.services import booking_confirm, hold_create
from creneau.scheduling.models import Slot
from tests.callcenter.test_callcenter import DETAILS
from tests.factories import make_site, open_session, person, tomorrow, verified_contact
from tests.staff_door import staff_sign_in

TODAY = timezone.localdate()
GIVEN_ON = TODAY - timedelta(days=20)
SLOTS = reverse("callcenter:slots")


@pytest.fixture
def dose2_session(centre):
    site, _session = centre
    return open_session(site, day=tomorrow(2), dose_number=2, start=_session.start_time)


def search(agent, **fields):
    query = {"near": "75017", "vaccine": "comirnaty", "dose1_elsewhere": f"{GIVEN_ON:%d/%m/%Y}"}
    return agent.get(SLOTS, query | fields)


def test_an_agent_books_a_dose2_alone_and_cancels_it_from_the_file(agent, dose2_session):
    page = search(agent)
    text = html.unescape(page.content.decode())
    assert page.status_code == 200
    assert "2e dose seule de Comirnaty" in text
    offered = {int(slot) for slot in re.findall(r'name="slot" value="(\d+)"', text)}
    # Only second-dose places, the first-dose session of the same site not among them.
    assert offered and offered <= set(dose2_session.slots.values_list("pk", flat=True))
    held = agent.post(
        reverse("callcenter:hold"),
        {"slot": min(offered), "dose1_vaccine": "comirnaty", "dose1_elsewhere": f"{GIVEN_ON}"},
        follow=True,
    )
    assert "Dose 1 reçue ailleurs" in html.unescape(held.content.decode())

    filed = agent.post(reverse("callcenter:person"), DETAILS, follow=True)
    text = html.unescape(filed.content.decode())
    series = Series.objects.get()
    assert series.dose1_elsewhere_on == GIVEN_ON
    assert series.dose1_elsewhere_declared_by == Dose1Declarant.AGENT
    assert [a.dose_number for a in series.appointments.all()] == [2]
    assert "1re dose reçue ailleurs : Comirnaty" in text
    assert "Annuler la 2e dose" in text

    cancelled = agent.post(
        reverse("callcenter:cancel_dose2", args=[series.pk]), {"reason": "Déménage"}, follow=True
    )
    series.refresh_from_db()
    assert series.status == Series.Status.CANCELLED
    assert "2e dose annulée" in html.unescape(cancelled.content.decode())
    assert AuditEvent.objects.filter(object_id=str(series.pk), action="change").exists()
    # The next search is for a dose 2 again, after the same dose 1.
    again = re.search(r'href="([^"]*dose1_elsewhere[^"]*)"', cancelled.content.decode())
    assert again and "vaccine=comirnaty" in html.unescape(again[1])


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"dose1_elsewhere": f"{TODAY + timedelta(days=2):%d/%m/%Y}"}, "dose1_elsewhere", "futur"),
        ({"dose1_elsewhere": "01/01/2021"}, "dose1_elsewhere", "dépassé"),
        ({"vaccine": "janssen"}, "vaccine", "une seule dose"),
        ({"vaccine": ""}, "vaccine", "vaccin reçu en 1re dose"),
        ({"dose1_elsewhere": "31/02/2021"}, "dose1_elsewhere", ""),
    ],
)
def test_a_declaration_that_cannot_be_is_said_on_its_field(
    agent, dose2_session, fields, field, words
):
    page = search(agent, **fields)
    text = html.unescape(page.content.decode())
    assert page.status_code == 400
    # The refusal is said with the field it is about (DSFR's error group around it).
    group = re.search(
        rf'<div class="fr-input-group fr-input-group--error">.*?id="id_{field}"', text, re.S
    )
    group = group or re.search(rf'fr-select-group--error">.*?id="id_{field}"', text, re.S)
    assert group
    assert words in text
    assert 'name="slot"' not in text


def test_a_posted_declaration_is_checked_again(agent, dose2_session):
    slot = dose2_session.slots.first()
    answer = agent.post(
        reverse("callcenter:hold"),
        {
            "slot": slot.pk,
            "dose1_vaccine": "comirnaty",
            "dose1_elsewhere": f"{TODAY + timedelta(days=1)}",
        },
        follow=True,
    )
    assert "futur" in html.unescape(answer.content.decode())
    assert Slot.objects.get(pk=slot.pk).booked == 0


def test_the_nurse_sees_the_declared_dose_1_on_the_day_list(client, dose2_session):
    declared = dose1_elsewhere_check(vaccine_code="comirnaty", given_on=GIVEN_ON, today=TODAY)
    slot = dose2_session.slots.first()
    booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, dose1_elsewhere=declared).hold.pk,
        contact=verified_contact(),
        person=person(),
    )
    staff_sign_in(client, "nurse")
    page = client.get(reverse("backoffice:site_day", args=[slot.site_id]), {"jour": f"{slot.date}"})
    assert f"1re dose reçue ailleurs le {GIVEN_ON:%d/%m/%Y} : preuve à vérifier" in html.unescape(
        page.content.decode()
    )


def test_a_site_with_no_dose_left_to_promise_is_not_offered(agent, dose2_session):
    bare = make_site(name="Centre sans doses", insee_code="75118")
    open_session(bare, day=tomorrow(2), dose_number=2)
    page = html.unescape(search(agent).content.decode())
    assert "Centre Wagram" in page and "Centre sans doses" not in page
