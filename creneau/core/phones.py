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
            gettext("Numéro de téléphone invalide : %(phone)s.") % {"phone": repr(text)},
            field=field,
        )
    return number
