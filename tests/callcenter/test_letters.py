"""A caller with neither a mobile nor an e-mail address: the agent takes down a postal
address, the confirmation is a letter, and letters are printed in batches that never
take the same letter twice."""

import html
import re
from collections import Counter

import pytest
from django.db.models import F
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.booking.addresses import PostalAddress, postal_address_normalize
from creneau.booking.models import Contact, Series
from creneau.booking.services import booking_cancel, booking_confirm, contact_for_agent, hold_create
from creneau.core.actor import Actor
from creneau.core.errors import InvalidInput
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.services import geography_load
from creneau.outreach.models import LetterBatch, Notification
from creneau.outreach.rendering import notification_render
from creneau.outreach.services import letter_batch_create, outbox_send
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.callcenter.test_callcenter import DETAILS, choose_first_slot
from tests.concurrency.racers import race_processes, race_threads
from tests.factories import person, two_dose_site
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role
BY_LETTER = {
    **DETAILS,
    "phone": "",
    "street": "12, rue des Lilas",
    "complement": "Bâtiment B",
    "postcode": "75017",
    "town": "Paris",
}


def book_by_letter(session, *, street="3 place Wagram", given_name="Jeanne"):
    """A booking by an agent for a caller at `street`, 75017 Paris."""
    slot = session.slots.filter(booked__lt=F("capacity")).order_by("start").first()
    contact = contact_for_agent(postal=PostalAddress(street=street, postcode="75017", town=""))
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=contact,
        person=person(given_name=given_name),
    ).series


def test_an_address_is_written_as_la_poste_reads_it(reference):
    address = PostalAddress(
        street="  12, rue   des Lilas ", complement="Bât. B", postcode="75017", town="paris"
    )
    assert postal_address_normalize(address=address) == "12 RUE DES LILAS\nBAT B\n75017 PARIS"
    # One commune for the postcode: the town may be left out.
    alone = PostalAddress(street="1 rue de la Mairie", postcode="93200", town="")
    assert postal_address_normalize(address=alone).endswith("\n93200 SAINT DENIS")
    # The post knows Paris, not its arrondissements.
    paris = PostalAddress(street="3 place Wagram", postcode="75017", town="")
    assert postal_address_normalize(address=paris) == "3 PLACE WAGRAM\n75017 PARIS"
    named = PostalAddress(
        street="3 place Wagram", postcode="75017", town="Paris 17e Arrondissement"
    )
    assert postal_address_normalize(address=named) == "3 PLACE WAGRAM\n75017 PARIS"


@pytest.mark.parametrize(
    "address, field",
    [
        (PostalAddress(street="", postcode="75017", town="Paris"), "street"),
        (PostalAddress(street="x" * 39, postcode="75017", town="Paris"), "street"),
        (PostalAddress(street="1 rue A", postcode="00000", town="Paris"), "postcode"),
        (PostalAddress(street="1 rue A", postcode="7501", town="Paris"), "postcode"),
        (PostalAddress(street="1 rue A", postcode="75017", town="Marseille"), "town"),
        (PostalAddress(street="1 rue A\x07", postcode="75017", town="Paris"), "street"),
    ],
)
def test_an_address_that_cannot_be_posted_is_refused_on_its_field(reference, address, field):
    with pytest.raises(InvalidInput) as refused:
        postal_address_normalize(address=address)
    assert refused.value.details["field"] == field


def test_one_address_typed_two_ways_is_one_contact(reference):
    typed = [
        PostalAddress(street="12, rue de Lévis", postcode="75017", town="Paris"),
        PostalAddress(street="12 RUE DE LEVIS", postcode="75017", town="PARIS"),
        PostalAddress(street="12 rue  de levis.", postcode="75017", town=""),
    ]
    contacts = {contact_for_agent(postal=address).pk for address in typed}
    assert len(contacts) == 1


def test_the_first_word_of_a_town_is_not_a_town(reference):
    for town in ("Aix", "Saint"):
        with pytest.raises(InvalidInput) as refused:
            postal_address_normalize(
                address=PostalAddress(street="1 cours Mirabeau", postcode="13100", town=town)
            )
        assert refused.value.details["field"] == "town"
    right = PostalAddress(street="1 cours Mirabeau", postcode="13100", town="Aix-en-Provence")
    assert postal_address_normalize(address=right).endswith("\n13100 AIX EN PROVENCE")


def test_a_town_too_long_for_the_line_is_shortened_as_la_poste_does(reference):
    geography_load(departments=("14",))
    address = PostalAddress(
        street="2 place de l'Église",
        postcode="14290",
        town="Saint-Martin-de-Bienfaite-la-Cressonnière",
    )
    last = postal_address_normalize(address=address).splitlines()[-1]
    assert last.startswith("14290 ST MARTIN DE BIENFAITE") and len(last) <= 38


def test_a_care_home_books_all_its_residents_at_one_address(reference):
    _site, session = two_dose_site(name="Centre Wagram", lines=10)
    for number in range(9):
        book_by_letter(
            session, street="EHPAD Les Tilleuls", given_name=f"Résident{'ABCDEFGHI'[number]}"
        )
    assert Contact.objects.get().series.count() == 9


def test_a_wrong_town_is_told_the_towns_of_the_postcode(reference):
    with pytest.raises(InvalidInput, match="Paris 17e Arrondissement"):
        postal_address_normalize(
            address=PostalAddress(street="1 rue A", postcode="75017", town="Lyon")
        )


def test_an_agent_books_a_caller_without_mobile_who_gets_a_letter(agent, centre):
    choose_first_slot(agent)
    page = agent.post(reverse("callcenter:person"), BY_LETTER, follow=True).content.decode()
    assert "Réservé : référence" in page and "75017 PARIS" in page
    series = Series.objects.get()
    assert series.contact.channel == "letter"
    assert series.contact.address == "12 RUE DES LILAS\nBATIMENT B\n75017 PARIS"
    letter = Notification.objects.get(kind="booking_confirmed")
    assert letter.channel == "letter" and letter.status == "pending"
    assert letter.to == "Jeanne MARTIN\n12 RUE DES LILAS\nBATIMENT B\n75017 PARIS"
    # No link to click on paper: the free number, and the reference to give.
    assert (
        "http" not in notification_render(notification=letter).body
        and "0 800 009 110" in notification_render(notification=letter).body
    )
    assert series.reference[:4] in notification_render(notification=letter).body.replace("-", "")
    # The delivery worker leaves letters to the printing.
    assert outbox_send().deliveries == []


def test_an_address_and_a_mobile_together_are_refused(agent, centre):
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**BY_LETTER, "phone": "0612345678"})
    assert response.status_code == 400 and "pas les deux" in response.content.decode()
    assert not Series.objects.exists()


def test_neither_address_nor_mobile_is_refused(agent, centre):
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**DETAILS, "phone": ""})
    assert response.status_code == 400 and "adresse postale" in response.content.decode()


def test_a_landline_is_refused_for_sms_with_a_way_out(agent, centre):
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**DETAILS, "phone": "01 42 76 40 40"})
    page = response.content.decode()
    assert response.status_code == 400 and "pas un portable" in page
    assert not Series.objects.exists() and not Contact.objects.exists()


def test_a_wrong_postcode_is_said_on_its_field_and_books_nothing(agent, centre):
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**BY_LETTER, "postcode": "75099"})
    assert response.status_code == 400
    assert 'id="id_postcode"' in response.content.decode()
    assert "Code postal inconnu" in response.content.decode()
    assert not Series.objects.exists()


def test_a_relative_at_the_same_address_shares_the_contact(agent, centre):
    _site, session = centre
    series = book_by_letter(session)
    page = agent.get(reverse("callcenter:file", args=[series.pk])).content.decode()
    relative_url = re.search(r'href="(/callcenter/\?contact=[^"]+)"', page)[1].replace("&amp;", "&")
    agent.get(relative_url)
    choose_first_slot(agent, contact=series.contact.address)
    form = agent.get(reverse("callcenter:person")).content.decode()
    assert 'value="3 PLACE WAGRAM"' in form and 'value="75017"' in form
    agent.post(
        reverse("callcenter:person"),
        {**DETAILS, "given_name": "Paul", "phone": "", "street": "3 place Wagram"}
        | {"postcode": "75017", "town": "PARIS"},
    )
    assert Contact.objects.get().series.count() == 2


def test_a_cancellation_by_letter_tells_to_call_back(centre):
    _site, session = centre
    series = book_by_letter(session)
    booking_cancel(series_id=series.pk, reason="")
    letter = Notification.objects.get(kind="booking_cancelled")
    assert (
        letter.channel == "letter"
        and "appelez le 0 800 009 110" in notification_render(notification=letter).body
    )


def test_a_batch_takes_the_waiting_letters_once_and_prints_them(agent, centre):
    _site, session = centre
    for number in range(3):
        book_by_letter(session, street=f"{number + 1} rue Ampère", given_name=f"P{number}")
    page = agent.get(reverse("callcenter:letters")).content.decode()
    assert "3 courriers attendent" in page
    response = agent.post(reverse("callcenter:letters"))
    batch = LetterBatch.objects.get()
    assert response["Location"] == reverse("callcenter:letter_batch", args=[batch.pk])
    assert batch.letters == 3 and batch.created_by.username == "agent"
    assert set(Notification.objects.values_list("status", "batch")) == {("sent", batch.pk)}
    printed = agent.get(response["Location"]).content.decode()
    assert printed.count('class="letter"') == 3 and "1 RUE AMPERE" in printed
    assert AuditEvent.objects.filter(action="export", object_id=str(batch.pk)).count() == 2
    # Nothing left: a second batch is refused with a message, and none is made.
    page = agent.post(reverse("callcenter:letters"), follow=True).content.decode()
    assert "Aucun courrier n" in page and LetterBatch.objects.count() == 1


def test_letters_are_for_the_call_centre_and_the_national_authority(client, centre):
    site, _session = centre
    staff_account_create(
        username="manager", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_sign_in(client, "manager")
    assert client.get(reverse("callcenter:letters")).status_code == 404
    client.post(reverse("backoffice:logout"))
    staff_sign_in(client, "national")
    assert client.get(reverse("callcenter:letters")).status_code == 200
    assert client.get(reverse("callcenter:home")).status_code == 404


def letters_waiting_for_print(count: int) -> set[int]:
    _site, session = two_dose_site(name="Centre Wagram", lines=10)
    for number in range(count):
        book_by_letter(session, street=f"{number + 1} rue Ampère", given_name=f"P{number}")
    return set(Notification.objects.filter(channel="letter").values_list("pk", flat=True))


def assert_each_letter_in_one_batch(letters: set[int], taken: list[int]) -> None:
    assert Counter(taken) == Counter(letters)  # none twice, none left behind
    assert not Notification.objects.filter(channel="letter", batch__isnull=True).exists()
    for batch in LetterBatch.objects.all():
        assert batch.notifications.count() == batch.letters > 0


@pytest.mark.concurrency
def test_four_agents_printing_at_once_never_take_the_same_letter(reference_committed):
    letters = letters_waiting_for_print(40)

    def agent(_index: int) -> list[int]:
        taken = []
        while True:
            try:
                batch = letter_batch_create(actor=Actor(user=None), limit=7)
            except InvalidInput:
                return taken
            taken += list(batch.notifications.values_list("pk", flat=True))

    results = race_threads(4, agent)
    assert all(isinstance(result, list) for result in results), results
    assert_each_letter_in_one_batch(letters, [pk for result in results for pk in result])


@pytest.mark.concurrency
def test_three_printing_processes_never_take_the_same_letter(reference_committed):
    letters = letters_waiting_for_print(40)
    results = race_processes(3, "tests.outreach.backends.batch_letters_until_done", lambda i: (5,))
    assert all(status == "ok" for status, _ in results), results
    assert_each_letter_in_one_batch(letters, [pk for _, taken in results for pk in taken])


def hidden(page: str, name: str) -> str:
    return html.unescape(re.search(rf'type="hidden" name="{name}" value="([^"]*)"', page)[1])


def test_a_landline_searched_is_noted_as_the_callers_number_not_taken_for_the_sms(agent, centre):
    home = html.unescape(
        agent.get(reverse("callcenter:home"), {"q": "01 42 76 40 40"}).content.decode()
    )
    assert "c'est un nouvel appelant" in home
    # Said plainly: a landline gets no SMS, it is only noted to find the caller again.
    assert "un fixe" in home and "ne reçoit pas les SMS" in home
    assert hidden(home, "contact") == "" and hidden(home, "fixe") == "01 42 76 40 40"
    slots = agent.get(
        reverse("callcenter:slots"), {"near": "75017", "contact": "", "fixe": "01 42 76 40 40"}
    ).content.decode()
    slot = re.search(r'name="slot" value="(\d+)"', slots)[1]
    agent.post(
        reverse("callcenter:hold"),
        {"slot": slot, "contact": hidden(slots, "contact"), "fixe": hidden(slots, "fixe")},
    )
    form = agent.get(reverse("callcenter:person")).content.decode()
    assert re.search(r'<input[^>]*name="phone"[^>]*>', form)[0].count("value=") == 0
    assert 'value="01 42 76 40 40"' in re.search(r'<input[^>]*name="landline"[^>]*>', form)[0]
    booked = agent.post(
        reverse("callcenter:person"), {**BY_LETTER, "landline": "01 42 76 40 40"}, follow=True
    )
    assert "Réservé : référence" in booked.content.decode()
    series = Series.objects.get()
    assert series.contact.channel == "letter" and series.contact.landline == "+33142764040"
    assert "01 42 76 40 40" in booked.content.decode()
    # When they call back from it, they are found.
    again = agent.get(reverse("callcenter:home"), {"q": "0142764040"}).content.decode()
    assert f'href="/callcenter/parcours/{series.pk}/"' in again
    # The letter, not the landline, carries the confirmation.
    assert Notification.objects.get(kind="booking_confirmed").channel == "letter"


def test_a_landline_that_is_not_a_number_is_said_on_its_field(agent, centre):
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**BY_LETTER, "landline": "01 42"})
    assert response.status_code == 400 and 'id="id_landline"' in response.content.decode()
    assert "Numéro de téléphone invalide" in response.content.decode()
    assert not Series.objects.exists()


def test_the_agent_is_told_a_letter_waits_to_be_printed_not_that_it_is_sent(agent, centre):
    choose_first_slot(agent)
    booked = html.unescape(
        agent.post(reverse("callcenter:person"), BY_LETTER, follow=True).content.decode()
    )
    assert "Réservé : référence" in booked and "La confirmation est envoyée" not in booked
    assert "La confirmation part par courrier" in booked and "« Courriers »" in booked
    series = Series.objects.get()
    cancelled = agent.post(
        reverse("callcenter:cancel", args=[series.pk]), {"reason": ""}, follow=True
    )
    page = html.unescape(cancelled.content.decode())
    assert "Annulé" in page and "La confirmation est envoyée" not in page
    assert "part par courrier" in page
