"""The back office's leftover doses: declared by site staff (audited), the board of
offers with names and arrival times (the look audited), taken back; bad input answered
with its message and nothing changed; another site's declaration not found."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.scheduling.models import Session
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Vaccine
from creneau.waitlist.models import Leftover, Offer, WaitlistEntry
from creneau.waitlist.services import offer_accept
from tests.factories import LOT, deliver
from tests.staff_door import staff_sign_in
from tests.waitlist.helpers import NOW, declare, join, leftover_site


@pytest.fixture
def site(reference, monkeypatch):
    """A site in Paris 17 with its staff; the clock at 17:00."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    site = leftover_site(name="Wagram")
    staff_account_create(
        username="infirmiere",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[site],
    )
    return site


def _form(**changes) -> dict:
    return {
        "vaccine": Vaccine.objects.get(code="janssen").pk,
        "lot": LOT,
        "doses": "2",
        "until": "19:00",
        **changes,
    }


def _state() -> tuple:
    return Leftover.objects.count(), Session.objects.count(), Offer.objects.count()


def test_site_staff_declare_doses_and_see_who_comes_when(client, site):
    for number in (1, 2, 3):
        join(number)
    staff_sign_in(client, "infirmiere")
    url = reverse("backoffice:leftovers", args=[site.pk])
    assert "Déclarer des doses restantes" in client.get(url).content.decode()
    response = client.post(url, _form())
    assert response.status_code == 302
    leftover = Leftover.objects.get()
    assert response["Location"] == reverse("backoffice:leftover", args=[site.pk, leftover.pk])
    event = AuditEvent.objects.get(object_type="waitlist.leftover", action="create")
    assert event.actor.username == "infirmiere" and event.site_id == site.pk
    offer = leftover.offers.first()
    offer_accept(offer_id=offer.pk)
    board = client.get(response["Location"]).content.decode()
    assert "Personne3 Attente" in board and "Acceptée" in board
    assert "1 acceptée" in board and "1 place encore libre" in board
    slot = Offer.objects.get(pk=offer.pk).slot
    assert f"entre {timezone.localtime(slot.start):%H:%M}" in board
    look = AuditEvent.objects.get(object_type="waitlist.leftover", action="view")
    assert look.details["offers"] == list(leftover.offers.values_list("pk", flat=True))
    partial = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and "Personne3 Attente" in partial


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"doses": "0"}, "Le nombre de doses va de 1 à 100."),
        ({"doses": "500"}, "Le nombre de doses va de 1 à 100."),
        ({"until": "16:00"}, "Cette heure est déjà passée."),
        ({"lot": "INCONNU"}, "Ce lieu n&#x27;a pas reçu de lot INCONNU"),
        ({"vaccine": "comirnaty"}, "Ce lieu n&#x27;a pas reçu de lot EW1234 de Comirnaty"),
        ({"doses": "deux"}, "Saisissez un nombre entier."),
    ],
)
def test_bad_declarations_are_answered_with_their_message_and_change_nothing(
    client, site, changes, message
):
    join(1)
    if changes.get("vaccine") == "comirnaty":
        changes["vaccine"] = Vaccine.objects.get(code="comirnaty").pk
    staff_sign_in(client, "infirmiere")
    before = _state()
    response = client.post(reverse("backoffice:leftovers", args=[site.pk]), _form(**changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before
    assert not AuditEvent.objects.filter(object_type="waitlist.leftover").exists()


def test_doses_taken_back_and_another_sites_declaration_not_found(client, site):
    join(1)
    other = declare(leftover_site(name="Autre", insee_code="75118"), doses=1)
    leftover = declare(site, doses=1, now=NOW)
    staff_sign_in(client, "infirmiere")
    for name in ("backoffice:leftover", "backoffice:leftover_stop"):
        url = reverse(name, args=[site.pk, other.pk])
        assert (client.post(url) if "stop" in name else client.get(url)).status_code == 404
    other.refresh_from_db()
    assert other.status == Leftover.Status.OPEN
    stop = reverse("backoffice:leftover_stop", args=[site.pk, leftover.pk])
    assert client.post(stop).status_code == 302
    leftover.refresh_from_db()
    assert leftover.status == Leftover.Status.CANCELLED
    again = client.post(stop, follow=True).content.decode()
    assert "ne sont déjà plus proposées" in again


def test_an_agent_puts_a_caller_on_the_list_audited(client, reference):
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    staff_sign_in(client, "agent")
    url = reverse("callcenter:waitlist")
    assert client.get(url).status_code == 200
    form = {
        "given_name": "Lucien",
        "family_name": "Petit",
        "birth_date_day": "3",
        "birth_date_month": "2",
        "birth_date_year": "1938",
        "near": "75017",
        "radius_km": "500",
        "notice_minutes": "120",
        "days": ["0", "2"],
        "start": "10:00",
        "end": "18:00",
        "vaccines": [str(Vaccine.objects.get(code="janssen").pk)],
        "phone": "06 98 76 54 32",
    }
    refused = client.post(url, form)
    assert refused.status_code == 400 and "La distance va de 1 à 30 km." in refused.content.decode()
    assert not WaitlistEntry.objects.exists()
    assert client.post(url, {**form, "radius_km": "5"}).status_code == 302
    entry = WaitlistEntry.objects.get()
    assert (entry.given_name, entry.notice_minutes, entry.by.username) == ("Lucien", 120, "agent")
    event = AuditEvent.objects.get(object_type="waitlist.waitlistentry")
    assert (event.action, event.actor.username) == ("create", "agent")


def test_a_two_dose_declaration_short_of_second_doses_says_how_many_and_where_to_open_them(
    client, site
):
    deliver(site, 100, code="comirnaty")
    comirnaty = Vaccine.objects.get(code="comirnaty")
    for number in (1, 2, 3):
        join(number)
    staff_sign_in(client, "infirmiere")
    url = reverse("backoffice:leftovers", args=[site.pk])
    # Before declaring: how many leftover doses of each two-dose product can be offered
    # (the French source strings' plural is Django's default one: 0 is plural).
    form_page = unescape(client.get(url).content.decode())
    assert "Comirnaty : 0 places de seconde dose libres" in form_page
    assert "au plus 0 doses restantes proposées" in form_page
    # Site staff cannot open sessions: they are told whom to ask.
    assert "Demandez au responsable du lieu" in form_page

    response = client.post(url, _form(vaccine=comirnaty.pk, doses="3"), follow=True)

    board = unescape(response.content.decode())
    assert "Sur 3 dose(s) déclarée(s), 0 seulement peuvent être proposée(s)" in board
    assert "0 places sur 3 peuvent être proposées" in board
    first = timezone.localdate(NOW) + timedelta(days=comirnaty.interval_min_days)
    assert f"ici, entre le {date_format(first, 'j F')}" in board
    assert "Il reste 0 places de seconde dose libres" in board
    assert not Offer.objects.exists()

    # A site manager gets the session-opening page, filled in for dose 2 in the interval.
    staff_account_create(
        username="responsable",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_MANAGER,
        sites=[site],
    )
    manager = Client()
    staff_sign_in(manager, "responsable")
    leftover = Leftover.objects.get()
    board = manager.get(reverse("backoffice:leftover", args=[site.pk, leftover.pk]))
    link = (
        f"{reverse('backoffice:sessions', args=[site.pk])}?vaccine={comirnaty.pk}"
        f"&dose_number=2&date_from={first.isoformat()}"
    )
    assert link.replace("&", "&amp;") in board.content.decode()
    sessions = manager.get(link).content.decode()
    assert f'<option value="{comirnaty.pk}" selected>' in sessions
    assert f'value="{first.isoformat()}"' in sessions
    assert re.search(r'value="2"[^>]*checked|checked[^>]*value="2"|value="2" selected', sessions)


def test_a_prefilled_session_page_ignores_values_that_are_not_ones(client, site):
    staff_account_create(
        username="responsable",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_MANAGER,
        sites=[site],
    )
    staff_sign_in(client, "responsable")
    url = reverse("backoffice:sessions", args=[site.pk])
    page = client.get(url, {"vaccine": "x", "dose_number": "9", "date_from": "demain"})
    assert page.status_code == 200
    assert 'value="demain"' not in page.content.decode()
