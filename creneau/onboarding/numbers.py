"""The official numbers an applicant gives, checked for format and check digit before
anything is written: FINESS (an establishment: centre, hospital, pharmacy), RPPS (a
doctor), SIRET (a company). Each uses Luhn's key on its last digit."""

import re

from django.utils.translation import gettext

from creneau.core.errors import InvalidInput

FINESS = "finess"
RPPS = "rpps"
SIRET = "siret"

# Nine characters: the department (2A and 2B for Corsica), then seven digits, the last
# one Luhn's key.
_FINESS = re.compile(r"(\d{2}|2[AB])\d{7}")
# La Poste's establishments share the SIREN 356 000 000: too many for Luhn's key, their
# SIRETs pass when the sum of their fourteen digits is a multiple of 5 (INSEE's exception).
LA_POSTE_SIREN = "356000000"


def luhn_valid(digits: str) -> bool:
    """Luhn's formula over a string of digits, the key being the last one."""
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def official_number_clean(*, kind: str, text: str) -> str:
    """The number as stored (spaces, dots and dashes out, capitals), or InvalidInput with
    a message saying what is wrong with it (on the field `number`)."""
    number = re.sub(r"[\s.\-]", "", text or "").upper()
    if kind == FINESS:
        if not _FINESS.fullmatch(number):
            raise _wrong(
                gettext("Un numéro FINESS a 9 caractères : le département puis 7 chiffres.")
            )
        # Corsica's 2A and 2B count as 20 for the key.
        if not luhn_valid(number.replace("2A", "20", 1).replace("2B", "20", 1)):
            raise _wrong(_check_digit_message("FINESS"))
        return number
    if kind == RPPS:
        if not re.fullmatch(r"\d{11}", number):
            raise _wrong(gettext("Un numéro RPPS a 11 chiffres."))
        if not luhn_valid(number):
            raise _wrong(_check_digit_message("RPPS"))
        return number
    if kind == SIRET:
        if not re.fullmatch(r"\d{14}", number):
            raise _wrong(gettext("Un numéro SIRET a 14 chiffres."))
        la_poste = number.startswith(LA_POSTE_SIREN) and sum(map(int, number)) % 5 == 0
        if not (luhn_valid(number) or la_poste):
            raise _wrong(_check_digit_message("SIRET"))
        return number
    raise InvalidInput(gettext("Type de numéro inconnu."), field="number_kind")


def _check_digit_message(name: str) -> str:
    return gettext(
        "Ce numéro %(name)s n'existe pas : sa clé de contrôle (le dernier chiffre) ne "
        "correspond pas. Vérifiez-le sur vos documents officiels."
    ) % {"name": name}


def _wrong(message: str) -> InvalidInput:
    return InvalidInput(message, field="number")
