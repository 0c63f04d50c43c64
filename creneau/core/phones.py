"""Phone numbers as people type or dictate them, read the French way: a number without a
country code is French."""

import phonenumbers
from django.utils.translation import gettext

from .errors import InvalidInput

# Longer than any number with its spaces; the message repeats no more than this.
PHONE_MAX_LENGTH = 40


def phone_parse(text: str, *, field: str = "phone") -> phonenumbers.PhoneNumber:
    """A valid number (to be stored in E.164), or InvalidInput naming the `field`."""
    text = text[:PHONE_MAX_LENGTH]
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            gettext("Numéro de téléphone invalide : %(phone)s.") % {"phone": repr(text)}
            + " "
            + _why_invalid(number),
            field=field,
        )
    return number


def _why_invalid(number: phonenumbers.PhoneNumber | None) -> str:
    """What is wrong with a number, in words a caller can act on."""
    Reason = phonenumbers.ValidationResult
    reason = (
        phonenumbers.is_possible_number_with_reason(number)
        if number is not None
        else Reason.INVALID_COUNTRY_CODE
    )
    if reason in (Reason.TOO_SHORT, Reason.INVALID_LENGTH):
        return gettext("Il manque des chiffres : un numéro français en a 10 (06 12 34 56 78).")
    if reason == Reason.TOO_LONG:
        return gettext("Il y a trop de chiffres : un numéro français en a 10 (06 12 34 56 78).")
    if number is None or reason == Reason.INVALID_COUNTRY_CODE:
        return gettext(
            "Écrivez-le avec des chiffres, par exemple 06 12 34 56 78, ou +32 470 12 34 56 "
            "pour un numéro étranger."
        )
    # The right length, but no operator was given numbers that begin this way.
    return gettext(
        "Aucun numéro ne commence ainsi : vérifiez les premiers chiffres "
        "(un portable commence par 06 ou 07, par exemple 06 12 34 56 78)."
    )
