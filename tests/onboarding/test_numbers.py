"""The official numbers: format and Luhn key, and La Poste's exception."""

import pytest

from creneau.core.errors import InvalidInput
from creneau.onboarding.numbers import FINESS, RPPS, SIRET, luhn_valid, official_number_clean


@pytest.mark.parametrize(
    "kind, text, stored",
    [
        (FINESS, "590780193", "590780193"),
        (FINESS, "59 078 0193", "590780193"),
        # Corsica: its department letters count as 20 for the key.
        (FINESS, "2a0001238", "2A0001238"),
        (RPPS, "10003016739", "10003016739"),
        (RPPS, "100 030 167 39", "10003016739"),
        (SIRET, "732 829 320 00074", "73282932000074"),
        # La Poste's head office passes Luhn; its other offices pass by the sum of digits.
        (SIRET, "35600000000048", "35600000000048"),
        (SIRET, "356 000 000 00015", "35600000000015"),
    ],
)
def test_a_good_number_is_kept_in_its_plain_form(kind, text, stored):
    assert official_number_clean(kind=kind, text=text) == stored


@pytest.mark.parametrize(
    "kind, text, says",
    [
        (FINESS, "590780194", "clé de contrôle"),
        (FINESS, "59078019", "9 caractères"),
        (FINESS, "2C0001238", "9 caractères"),
        (RPPS, "10003016738", "clé de contrôle"),
        (RPPS, "1000301673X", "11 chiffres"),
        (SIRET, "73282932000075", "clé de contrôle"),
        (SIRET, "7328293200007", "14 chiffres"),
        # The sum-of-digits rule is La Poste's alone: the same digits elsewhere fail.
        (SIRET, "12300000000015", "clé de contrôle"),
        (SIRET, "35600000000016", "clé de contrôle"),
        (RPPS, "", "11 chiffres"),
        (RPPS, "1" * 5000, "11 chiffres"),
    ],
)
def test_a_wrong_number_is_refused_on_its_field_with_the_reason(kind, text, says):
    with pytest.raises(InvalidInput) as refused:
        official_number_clean(kind=kind, text=text)
    assert says in refused.value.message
    assert refused.value.details["field"] == "number"


def test_every_single_digit_error_is_caught_by_the_key():
    """Luhn's promise: any one digit changed makes the key wrong."""
    good = "10003016739"
    for position in range(len(good)):
        for digit in "0123456789":
            if digit != good[position]:
                assert not luhn_valid(good[:position] + digit + good[position + 1 :])


def test_an_unknown_kind_of_number_is_refused():
    with pytest.raises(InvalidInput):
        official_number_clean(kind="adeli", text="123456789")
