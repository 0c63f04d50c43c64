"""One reading of a phone number for every app: French unless it says otherwise, valid or
refused with the text that was typed, the same refusal for a contact and for a site."""

import phonenumbers
import pytest

from creneau.booking.addresses import contact_address_normalize
from creneau.core.errors import InvalidInput
from creneau.core.phones import phone_parse
from creneau.sites.services import site_update
from tests.factories import STAFF, make_site


def e164(number) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("01.42.76.40.40", "+33142764040"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+32 470 12 34 56", "+32470123456"),  # a Belgian mobile stays Belgian
    ],
)
def test_a_number_is_read_the_french_way_unless_it_says_otherwise(text, stored):
    assert e164(phone_parse(text)) == stored


@pytest.mark.parametrize("text", ["12", "06 12 34 56", "bonjour", "", "+999 123"])
def test_anything_but_a_valid_number_is_refused_with_what_was_typed(text):
    with pytest.raises(InvalidInput) as caught:
        phone_parse(text)
    assert caught.value.message.startswith(f"Numéro de téléphone invalide : {text!r}. ")
    assert caught.value.details == {"field": "phone"} and caught.value.status == 400


def test_the_refusal_names_the_field_it_is_given():
    with pytest.raises(InvalidInput) as caught:
        phone_parse("12", field="contact")
    assert caught.value.details == {"field": "contact"}


def test_only_the_first_forty_characters_are_read_and_repeated():
    with pytest.raises(InvalidInput) as caught:
        phone_parse("0" * 500)
    assert caught.value.message.startswith(f"Numéro de téléphone invalide : {'0' * 40!r}. ")


def test_a_contact_and_a_site_refuse_a_number_in_the_same_words(reference):
    site = make_site()
    with pytest.raises(InvalidInput) as contact:
        contact_address_normalize(phone="06 12")
    with pytest.raises(InvalidInput) as details:
        site_update(
            actor=STAFF,
            site_id=site.pk,
            name="Centre",
            phone="06 12",
            accessibility="",
            booking_url="",
        )
    assert contact.value.message == details.value.message
    assert contact.value.message.startswith("Numéro de téléphone invalide : '06 12'.")
    assert contact.value.details == details.value.details == {"field": "phone"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("07 11 22 33 44", "Aucun numéro ne commence ainsi"),
        ("06 12", "Il manque des chiffres"),
        ("06 12 34 56 78 90", "trop de chiffres"),
        ("bonjour", "Écrivez-le avec des chiffres"),
    ],
)
def test_the_refusal_says_what_is_wrong_with_the_number(text, why):
    with pytest.raises(InvalidInput) as caught:
        phone_parse(text)
    assert why in caught.value.message
