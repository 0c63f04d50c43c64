"""Values read straight from a request: an id is ASCII digits, a day is an ISO date, or
a 400; and a NUL is refused at the door of every page, never a 500."""

from datetime import date

import pytest
from django.http import QueryDict
from django.urls import reverse

from creneau.booking.models import Hold
from creneau.booking.services import booking_confirm, hold_create
from creneau.core.errors import InvalidInput
from creneau.core.inputs import date_parse, has_null_character, id_parse
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import person, two_dose_site, verified_contact
from tests.staff_door import staff_sign_in

MESSAGE = "Choisissez un créneau."
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_an_id_of_ascii_digits_is_read():
    assert id_parse("12", message=MESSAGE) == 12
    assert id_parse("9" * 18, message=MESSAGE) == 10**18 - 1


@pytest.mark.parametrize(
    "text",
    [
        "²",  # str.isdigit says yes, int says no: a 500 before
        "١٢",  # Arabic-Indic digits: int reads them as 12
        " 12",  # int strips the space
        "1_000",  # int reads 1000
        "-1",
        "",
        None,
        "1" * 19,  # past a 64-bit id: the query would overflow on PostgreSQL
    ],
)
def test_anything_but_ascii_digits_is_refused_with_the_message_given(text):
    with pytest.raises(InvalidInput) as caught:
        id_parse(text, message=MESSAGE)
    assert caught.value.message == MESSAGE and caught.value.status == 400


def test_an_iso_day_is_read():
    assert date_parse("2021-05-12") == date(2021, 5, 12)


@pytest.mark.parametrize("text", ["2021-02-30", "12/05/2021", "demain", "", "2021-05-12 "])
def test_anything_but_an_iso_day_is_refused_and_named(text):
    with pytest.raises(InvalidInput) as caught:
        date_parse(text)
    assert caught.value.message == f"Date invalide : {text}." and caught.value.status == 400


def test_a_long_text_is_named_by_its_first_twenty_characters_only():
    with pytest.raises(InvalidInput) as caught:
        date_parse("x" * 500)
    assert caught.value.message == f"Date invalide : {'x' * 20}."


def test_a_nul_is_found_in_a_value_and_in_a_key():
    assert has_null_character(QueryDict("q=a%00b"))
    assert has_null_character(QueryDict("q=a&q=b%00"))  # in the second value of a key
    assert has_null_character(QueryDict("a%00b=1"))
    assert not has_null_character(QueryDict("q=ab&jour=2021-05-12"))


@pytest.fixture
def site(reference):
    site, _session = two_dose_site(name="Centre Wagram")
    return site


@pytest.fixture
def agent(client, site):
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    signed_in = staff_sign_in(client, "agent")
    assert signed_in.status_code == 302
    return client


def test_a_superscript_slot_id_is_a_400_at_the_call_centre_not_a_500(agent):
    response = agent.post(reverse("callcenter:hold"), {"slot": "²"})
    assert response.status_code == 400
    assert MESSAGE in response.content.decode()
    assert not Hold.objects.exists()


@pytest.mark.parametrize("query", ["?q=a%00b", "?a%00b=1"])
def test_a_nul_in_a_back_office_query_is_a_400(agent, query):
    response = agent.get(reverse("backoffice:home") + query)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_superscript_slot_id_is_refused_by_the_portal(client, site):
    response = client.post(reverse("portal:hold"), {"slot": "²", "site": str(site.pk)})
    assert 400 <= response.status_code < 500
    assert not Hold.objects.exists()


@pytest.mark.parametrize("spell", [lambda pk: str(pk).translate(ARABIC_INDIC), lambda pk: f" {pk}"])
def test_a_real_slot_id_spelled_otherwise_holds_nothing_on_the_portal(client, site, spell):
    slot = site.slots.order_by("start").first()
    response = client.post(reverse("portal:hold"), {"slot": spell(slot.pk), "site": str(site.pk)})
    assert 400 <= response.status_code < 500
    assert not Hold.objects.exists()


def test_a_day_that_is_not_one_is_a_400_on_the_portal_s_site_page(client, site):
    response = client.get(reverse("portal:site", args=[site.pk]), {"day": "2021-02-30"})
    assert response.status_code == 400
    assert "Date invalide : 2021-02-30." in response.content.decode()


def test_a_day_that_is_not_one_is_a_400_on_the_call_centre_s_move_page(agent, site):
    slot = site.slots.order_by("start").first()
    series = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact("+33611223344"),
        person=person(),
    ).series
    response = agent.get(reverse("callcenter:move", args=[series.pk, 1]), {"jour": "demain"})
    assert response.status_code == 400
    assert "Date invalide : demain." in response.content.decode()
