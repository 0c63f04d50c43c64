"""Contact details as people type or dictate them, and as they are stored: a phone number
in E.164 (SMS only to a mobile), an e-mail address in lower case, a postal address as La
Poste reads it; and back from the stored form to a form's fields."""

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext

from creneau.core.crypto import address_index, blind_index
from creneau.core.errors import InvalidInput
from creneau.core.phones import PHONE_MAX_LENGTH, phone_parse
from creneau.geography.models import Commune
from creneau.geography.text import search_name

from .models import Contact

# What receives an SMS: a mobile, or a number its plan cannot tell from one (abroad).
SMS_NUMBER_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
POSTAL_LINE_LENGTH = 38
_ARRONDISSEMENT = re.compile(r" \d+(?:er|e) arrondissement$")


def contact_address_normalize(
    *, phone: str | None = None, email: str | None = None, for_sms: bool = True
) -> tuple:
    """(channel, address): a phone number in E.164, or an e-mail address in lower case.
    A number that messages will go to (`for_sms`) must be able to receive an SMS."""
    if bool(phone) == bool(email):
        raise InvalidInput(
            gettext("Donnez un numéro de téléphone ou une adresse e-mail (l'un des deux).")
        )
    if phone:
        number = phone_parse(phone)
        if for_sms and phonenumbers.number_type(number) not in SMS_NUMBER_TYPES:
            raise InvalidInput(
                gettext(
                    "Le %(phone)s n'est pas un portable : il ne reçoit pas les SMS. Donnez un "
                    "numéro de portable ou une adresse e-mail."
                )
                % {"phone": phone[:PHONE_MAX_LENGTH]},
                field="phone",
            )
        if for_sms and phonenumbers.region_code_for_number(number) not in settings.SMS_REGIONS:
            # Codes to numbers abroad cost the most and are how SMS fraud pays.
            raise InvalidInput(
                gettext(
                    "Les SMS ne partent que vers les portables français (outre-mer compris). "
                    "Donnez une adresse e-mail, ou appelez le centre d'appel."
                ),
                field="phone",
            )
        return Contact.Channel.SMS, phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
    address = email.strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidInput(
            gettext("Adresse e-mail invalide : %(email)s.") % {"email": repr(email[:254])},
            field="email",
        ) from None
    return Contact.Channel.EMAIL, address


def contact_address_index(address: str) -> str:
    """Contact.address_index: the blind index of an address in its stored form
    (core.crypto.address_index)."""
    return address_index(address, purpose="booking.contact")


def contact_landline_index(number: str) -> str:
    """Contact.landline_index of a landline in E.164 (empty without one): its own
    purpose, so that the two columns cannot be matched against each other."""
    return blind_index(number, purpose="booking.contact.landline") if number else ""


@dataclass(frozen=True)
class CallerNumbers:
    """What a caller's search that found nobody carries into their booking."""

    # A mobile or an e-mail address: where the confirmation will go.
    contact: str = ""
    # A landline: it receives no SMS, so it is only noted as the caller's number.
    landline: str = ""


def caller_numbers_sort(*, text: str) -> CallerNumbers:
    """A caller's number or e-mail as the agent typed it, sorted: a landline is not
    carried as the contact, where it would only be refused; anything else is dropped."""
    text = text.strip()[:254]
    if "@" in text:
        try:
            contact_address_normalize(email=text)
        except InvalidInput:
            return CallerNumbers()
        return CallerNumbers(contact=text)
    try:
        number = phone_parse(text)
    except InvalidInput:
        return CallerNumbers()
    if phonenumbers.number_type(number) in SMS_NUMBER_TYPES:
        return CallerNumbers(contact=text)
    return CallerNumbers(landline=text)


def contact_address_parse(*, text: str) -> str:
    """The stored form of a phone number or e-mail address as someone typed it; text that
    is neither stays as it is (and matches nothing)."""
    try:
        _, address = contact_address_normalize(
            **({"email": text} if "@" in text else {"phone": text}), for_sms=False
        )
    except InvalidInput:
        return text[:254]
    return address


@dataclass(frozen=True)
class PostalAddress:
    """A French postal address as a caller dictates it, for confirmations by letter."""

    street: str
    postcode: str
    town: str
    complement: str = ""


def postal_address_normalize(*, address: PostalAddress) -> str:
    """The address as La Poste reads it in an envelope's window (norm NF Z 10-011): lines
    of at most 38 characters in capitals, the last one "75017 PARIS" without accents or
    punctuation. The postcode must exist and the town be one of its communes (Paris for
    the communes "Paris 17e Arrondissement"…); with one commune, the town may be left out.
    """
    lines = []
    for value, label, required in (
        (address.street, gettext("Numéro et voie"), True),
        (address.complement, gettext("Complément d'adresse"), False),
    ):
        text = _postal_line(value)
        if (required and not text) or len(text) > POSTAL_LINE_LENGTH or not text.isprintable():
            rule = (
                gettext("%(label)s : de 1 à %(max)s caractères lisibles.")
                if required
                else gettext("%(label)s : au plus %(max)s caractères lisibles.")
            )
            raise InvalidInput(
                rule % {"label": label, "max": POSTAL_LINE_LENGTH},
                field="street" if required else "complement",
            )
        if text:
            lines.append(text)
    postcode = address.postcode.strip()
    communes = list(
        Commune.objects.filter(postal_codes__code=postcode).values_list("name", "search_name")
        if re.fullmatch(r"\d{5}", postcode)
        else []
    )
    if not communes:
        raise InvalidInput(
            gettext("Code postal inconnu : %(code)s.") % {"code": postcode[:10]}, field="postcode"
        )
    town = search_name(address.town)
    if not town and len(communes) == 1:
        town = communes[0][1]
    if not any(town in (key, _ARRONDISSEMENT.sub("", key)) for _, key in communes if town):
        raise InvalidInput(
            gettext("Le %(code)s est le code postal de : %(towns)s.")
            % {"code": postcode, "towns": ", ".join(sorted(name for name, _ in communes))},
            field="town",
        )
    # The post knows Paris, Lyon and Marseille, not their arrondissements; a name too long
    # for the line is shortened as La Poste's own labels are (ST, STE, then cut): the
    # postcode routes the letter.
    name = _ARRONDISSEMENT.sub("", town).upper()
    room = POSTAL_LINE_LENGTH - len(postcode) - 1
    if len(name) > room:
        name = re.sub(r"\bSAINT(E?)\b", r"ST\1", name)[:room].rstrip()
    return "\n".join([*lines, f"{postcode} {name}"])


def _postal_line(value: str) -> str:
    """A street or complement line as the norm wants it: capitals, without accents or the
    punctuation that readers skip ("12, rue de Lévis" and "12 RUE DE LEVIS" are one)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[,.;:]", " ", plain).split()).upper()


def postal_address_parse(*, text: str) -> PostalAddress | None:
    """A stored postal address (postal_address_normalize's lines) as the fields it came
    from, to fill a form again; None for anything else (a phone number, an e-mail)."""
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    postcode, _space, town = lines[-1].partition(" ")
    return PostalAddress(
        street=lines[0], complement=" ".join(lines[1:-1]), postcode=postcode, town=town
    )
