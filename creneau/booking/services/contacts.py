"""Contacts and their verification: the phone or e-mail a booking is managed from, the
one-time code that proves it, and the contact an agent books for."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import phonenumbers
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from creneau.core.errors import CodeExpired, CodeInvalid, InvalidInput, NotFound, TooManyRequests
from creneau.core.metrics import refusals_counted
from creneau.core.phones import phone_parse
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret
from creneau.outreach.services import notification_enqueue

from .. import tokens
from ..addresses import (
    PostalAddress,
    contact_address_index,
    contact_address_normalize,
    contact_landline_index,
    postal_address_normalize,
)
from ..messages import VERIFICATION_CODE
from ..models import MAX_CODE_ATTEMPTS, Contact, ContactVerification
from ..selectors import CONTACT_TOKEN_SALT

CODE_VALIDITY = timedelta(minutes=10)
CODE_RESEND_AFTER = timedelta(seconds=60)


@transaction.atomic
def contact_for_agent(
    *,
    phone: str = "",
    email: str = "",
    postal: PostalAddress | None = None,
    landline: str = "",
) -> Contact:
    """The contact a call-centre agent books for: the mobile number or e-mail address the
    caller gave and the agent read back to them, or, for a caller with neither, a postal
    address that confirmations go to by letter (no code: the agent is the check, and the
    booking is in the audit log). Found, or created once even by two agents at once.

    A landline the caller gives is noted on the contact (the last one given), so that
    the caller is found when they call back from it; no message ever goes there."""
    number = ""
    if landline:
        number = phonenumbers.format_number(
            phone_parse(landline, field="landline"), phonenumbers.PhoneNumberFormat.E164
        )
    if (phone or email) and postal is not None:
        raise InvalidInput(
            gettext("Un portable ou un e-mail, ou bien une adresse postale : pas les deux."),
            field="email" if email else "phone",
        )
    if not phone and not email and postal is None:
        raise InvalidInput(
            gettext("Donnez un portable ou un e-mail, ou l'adresse postale pour un courrier."),
            field="phone",
        )
    if postal is not None:
        channel, address = Contact.Channel.LETTER, postal_address_normalize(address=postal)
    else:
        # Both given: refused here too, naming the e-mail field.
        channel, address = contact_address_normalize(phone=phone or None, email=email or None)
    contact = contact_get_or_create(channel=channel, address=address, landline=number)
    if number and contact.landline != number:
        landline = contact_landline_index(number)
        Contact.objects.filter(pk=contact.pk).exclude(landline_index=landline).update(
            landline=number, landline_index=landline
        )
        contact.landline, contact.landline_index = number, landline
    return contact


def contact_get_or_create(
    *, channel: str, address: str, language: str = "fr", landline: str = ""
) -> Contact:
    """The contact of an address in its stored form, found by its blind index, or created
    (once, even by two requests at once: the index is unique)."""
    index = contact_address_index(address)
    Contact.objects.bulk_create(
        [
            Contact(
                channel=channel,
                address=address,
                address_index=index,
                landline=landline,
                landline_index=contact_landline_index(landline),
                language=language,
            )
        ],
        ignore_conflicts=True,
    )
    return Contact.objects.get(address_index=index)


@refusals_counted("verification")
def contact_verification_start(
    *,
    phone: str | None = None,
    email: str | None = None,
    language: str = "fr",
    admit: Callable[..., None] | None = None,
    now: datetime | None = None,
) -> ContactVerification:
    """Send a 6-digit one-time code to the contact, at most one a minute, and within the
    front door's limits: `admit(channel=, address=)` is asked once the minute allows a
    code, and refuses by raising (admission.limits.code_send_admit)."""
    now = now or timezone.now()
    channel, address = contact_address_normalize(phone=phone, email=email)
    contact = contact_get_or_create(channel=channel, address=address, language=language)
    sent = Contact.objects.filter(
        Q(code_sent_at__isnull=True) | Q(code_sent_at__lte=now - CODE_RESEND_AFTER), pk=contact.pk
    ).update(code_sent_at=now)
    if not sent:
        contact.refresh_from_db(fields=["code_sent_at"])
        wait = int((contact.code_sent_at + CODE_RESEND_AFTER - now).total_seconds()) + 1
        raise TooManyRequests(
            gettext(
                "Un code vient d'être envoyé à ce contact : attendez %(seconds)d s avant d'en "
                "demander un autre."
            )
            % {"seconds": wait},
            retry_after=wait,
        )
    if admit is not None:
        admit(channel=channel, address=address)
    verification = ContactVerification(contact=contact, expires_at=now + CODE_VALIDITY)
    verification_id = str(verification.pk)
    verification.code_hash = tokens.one_time_code_hash(
        verification_id=verification_id,
        code=tokens.one_time_code(verification_id=verification_id),
    )
    verification.save(force_insert=True)
    notification_enqueue(
        channel=channel,
        to=address,
        kind=Notification.Kind.VERIFICATION_CODE,
        event=f"verification:{verification.pk}",
        # The code itself is made again when the message is sent (booking/messages.py).
        context={
            "code": Secret(VERIFICATION_CODE, verification_id),
            "minutes": int(CODE_VALIDITY.total_seconds() // 60),
        },
        language=contact.language,
    )
    return verification


def contact_verification_confirm(
    *, verification_id: str, code: str, now: datetime | None = None
) -> str:
    """Check a code and answer with a contact token, the key to booking.

    Each try spends one of the five attempts in its own committed update, before the
    code is compared: a wrong code cannot roll its attempt back, and two concurrent
    guesses cannot both use the last attempt.
    """
    now = now or timezone.now()
    code = "".join(str(code).split())
    if not re.fullmatch(r"\d{6}", code):
        raise CodeInvalid(gettext("Le code est fait de 6 chiffres."))
    claimed = ContactVerification.objects.filter(
        pk=verification_id,
        attempts__lt=MAX_CODE_ATTEMPTS,
        confirmed_at__isnull=True,
        expires_at__gt=now,
    ).update(attempts=F("attempts") + 1)
    verification = (
        ContactVerification.objects.select_related("contact").filter(pk=verification_id).first()
    )
    if verification is None:
        raise NotFound(gettext("Cette vérification n'existe pas."))
    if not claimed:
        if verification.confirmed_at is not None:
            raise CodeExpired(gettext("Ce code a déjà servi : demandez-en un nouveau si besoin."))
        if verification.expires_at <= now:
            raise CodeExpired(gettext("Ce code a expiré : demandez-en un nouveau."))
        raise TooManyRequests(
            gettext(
                "Trop d'essais pour ce code : demandez-en un nouveau (« Recevoir un nouveau "
                "code »)."
            )
        )
    expected = tokens.one_time_code_hash(verification_id=str(verification.pk), code=code)
    if not tokens.code_hash_matches(expected, verification.code_hash):
        left = MAX_CODE_ATTEMPTS - verification.attempts
        raise CodeInvalid(
            gettext("Code incorrect. Il reste %(left)d essai(s).") % {"left": left}
            if left
            else gettext(
                "Code incorrect, et c'était le dernier essai pour ce code : demandez-en un "
                "nouveau (« Recevoir un nouveau code »)."
            ),
            attempts_left=left,
        )
    with transaction.atomic():
        used = ContactVerification.objects.filter(
            pk=verification.pk, confirmed_at__isnull=True
        ).update(confirmed_at=now)
        if not used:
            raise CodeExpired(gettext("Ce code a déjà servi : demandez-en un nouveau si besoin."))
        Contact.objects.filter(pk=verification.contact_id, verified_at__isnull=True).update(
            verified_at=now
        )
        # The one-a-minute limit is against codes sent and not answered: one that was
        # used frees the next at once (a booking, then "Gérer" on another device).
        Contact.objects.filter(pk=verification.contact_id).update(code_sent_at=None)
    return contact_token_issue(contact=verification.contact)


def contact_token_issue(*, contact: Contact) -> str:
    return signing.dumps(contact.pk, salt=CONTACT_TOKEN_SALT)
