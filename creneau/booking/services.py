"""Contacts, holds, bookings, moves and cancellations: the booking engine.

Every place is taken by a conditional update on its slot (invariant 1); the doses behind
it were promised when the session opened (invariant 2). A booking takes dose 1 and
dose 2 in one transaction, both or neither (invariant 3). Locks follow the order of
scheduling.services: contact and series rows first, then slots (dose 1 before dose 2),
then stock, then the read model, then the outbox rows.
"""

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_noop

from creneau.core.db import retry_on_deadlock
from creneau.core.errors import (
    AlreadyBooked,
    CodeExpired,
    CodeInvalid,
    Dose2Unavailable,
    HoldExpired,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    TooManyPersons,
    TooManyRequests,
)
from creneau.eligibility.selectors import (
    Candidate,
    categories_validate,
    eligibility_decide,
    eligibility_require,
)
from creneau.geography.selectors import department_timezone
from creneau.geography.text import search_name
from creneau.outreach.models import Notification
from creneau.outreach.services import notification_enqueue
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.services import (
    SlotChanges,
    session_close,
    slot_release,
    slot_take,
    slots_release,
)
from creneau.sites.selectors import site_is_public
from creneau.sites.services import site_close

from . import tokens
from .models import (
    ACTIVE_APPOINTMENT_STATUSES,
    MAX_CODE_ATTEMPTS,
    Appointment,
    Cancellation,
    CancellationItem,
    Contact,
    ContactVerification,
    Hold,
    IdempotencyKey,
    Person,
    Series,
)
from .selectors import (
    CONTACT_TOKEN_SALT,
    PostalAddress,
    cancellation_sessions,
    contact_address_normalize,
    dose2_options,
    dose2_window,
    postal_address_normalize,
)

CODE_VALIDITY = timedelta(minutes=10)
CODE_RESEND_AFTER = timedelta(seconds=60)
MAX_PERSONS_PER_CONTACT = 6
NAME_MAX_LENGTH = 100
OLDEST_AGE_YEARS = 130
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a name must be, said of each name field (whole sentences, for translators).
_NAME_RULES = {
    "Prénom": gettext_noop("Prénom : de 1 à %(max)d caractères lisibles."),
    "Nom": gettext_noop("Nom : de 1 à %(max)d caractères lisibles."),
}


# Contacts -----------------------------------------------------------------------------


@transaction.atomic
def contact_for_agent(*, text: str = "", postal: PostalAddress | None = None) -> Contact:
    """The contact a call-centre agent books for: the mobile number or e-mail address the
    caller gave and the agent read back to them, or, for a caller with neither, a postal
    address that confirmations go to by letter (no code: the agent is the check, and the
    booking is in the audit log). Found, or created once even by two agents at once."""
    if text and postal is not None:
        raise InvalidInput(
            gettext("Un portable ou un e-mail, ou bien une adresse postale : pas les deux.")
        )
    if not text and postal is None:
        raise InvalidInput(
            gettext("Donnez un portable ou un e-mail, ou l'adresse postale pour un courrier.")
        )
    if postal is not None:
        channel, address = Contact.Channel.LETTER, postal_address_normalize(address=postal)
    else:
        channel, address = contact_address_normalize(
            **({"email": text} if "@" in text else {"phone": text})
        )
    Contact.objects.bulk_create([Contact(channel=channel, address=address)], ignore_conflicts=True)
    return Contact.objects.get(address=address)


def contact_verification_start(
    *,
    phone: str | None = None,
    email: str | None = None,
    language: str = "fr",
    now: datetime | None = None,
) -> ContactVerification:
    """Send a 6-digit one-time code to the contact, at most one a minute."""
    now = now or timezone.now()
    channel, address = contact_address_normalize(phone=phone, email=email)
    contact, _ = Contact.objects.get_or_create(
        address=address, defaults={"channel": channel, "language": language}
    )
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
    code = tokens.one_time_code_new()
    verification = ContactVerification(contact=contact, expires_at=now + CODE_VALIDITY)
    verification.code_hash = tokens.one_time_code_hash(
        verification_id=str(verification.pk), code=code
    )
    verification.save(force_insert=True)
    notification_enqueue(
        channel=channel,
        to=address,
        kind=Notification.Kind.VERIFICATION_CODE,
        event=f"verification:{verification.pk}",
        context={"code": code, "minutes": int(CODE_VALIDITY.total_seconds() // 60)},
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
        raise TooManyRequests(gettext("Trop d'essais pour ce code : demandez-en un nouveau."))
    expected = tokens.one_time_code_hash(verification_id=str(verification.pk), code=code)
    if not tokens.code_hash_matches(expected, verification.code_hash):
        left = MAX_CODE_ATTEMPTS - verification.attempts
        raise CodeInvalid(
            gettext("Code incorrect. Il reste %(left)d essai(s).") % {"left": left},
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
    return contact_token_issue(contact=verification.contact)


def contact_token_issue(*, contact: Contact) -> str:
    return signing.dumps(contact.pk, salt=CONTACT_TOKEN_SALT)


# Holds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldResult:
    hold: Hold
    dose2_options: list[Slot]


def _public_first_dose_slot(*, slot_id: int, now: datetime) -> Slot:
    slot = Slot.objects.select_related("vaccine", "site", "session").filter(pk=slot_id).first()
    if slot is None or not site_is_public(site=slot.site, now=now):
        raise NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if slot.dose_number != 1:
        raise InvalidInput(
            gettext("On réserve un créneau de première dose ; la seconde est proposée avec lui.")
        )
    if slot.start <= now:
        raise SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.session.status != Session.Status.OPEN:
        raise SlotUnavailable(gettext("Ce créneau n'est plus proposé."), reason="closed")
    return slot


def _slot_refusal(*, slot_id: int, now: datetime) -> SlotUnavailable:
    held = Hold.objects.filter(Q(slot_id=slot_id) | Q(dose2_slot_id=slot_id), expires_at__gt=now)
    if held.exists():
        return SlotUnavailable(
            gettext(
                "Ce créneau est retenu par d'autres personnes en train de réserver ; il peut se "
                "libérer dans quelques minutes. Choisissez-en un autre."
            ),
            reason="held",
            slot_id=slot_id,
        )
    return SlotUnavailable(
        gettext("Ce créneau vient d'être complet. Choisissez-en un autre."),
        reason="full",
        slot_id=slot_id,
    )


@transaction.atomic
def _hold_take(*, slot: Slot, options: list[Slot], now: datetime) -> Hold:
    changes = SlotChanges()
    if slot_take(slot_id=slot.pk, now=now, changes=changes, dose_number=1) is None:
        raise _slot_refusal(slot_id=slot.pk, now=now)
    dose2 = next(
        (
            option
            for option in options
            if slot_take(slot_id=option.pk, now=now, changes=changes, dose_number=2)
        ),
        None,
    )
    if options and dose2 is None:
        raise Dose2Unavailable(
            gettext(
                "Plus aucun créneau de seconde dose n'est libre pour ce rendez-vous : "
                "choisissez une autre date ou un autre lieu."
            )
        )
    hold = Hold.objects.create(
        slot=slot, dose2_slot=dose2, expires_at=now + timedelta(minutes=settings.HOLD_MINUTES)
    )
    changes.apply()
    return hold


@retry_on_deadlock
def hold_create(*, slot_id: int, now: datetime | None = None) -> HoldResult:
    """Keep a first-dose place (and the best second-dose place) for a few minutes.

    An expired hold is no obstacle: when a slot looks full, the expired holds of its site
    are given back first, so correctness needs no periodic job (holds_expire only keeps
    the read model fresh between two such attempts).
    """
    now = now or timezone.now()
    slot = _public_first_dose_slot(slot_id=slot_id, now=now)
    for attempt in range(2):
        options = dose2_options(slot=slot, now=now)
        if slot.vaccine.doses_in_series > 1 and not options:
            refusal: Exception = Dose2Unavailable(
                gettext(
                    "Aucun créneau de seconde dose n'est libre dans l'intervalle prévu pour "
                    "%(vaccine)s (de %(min)d à %(max)d jours) dans ce lieu : choisissez une "
                    "autre date ou un autre lieu."
                )
                % {
                    "vaccine": slot.vaccine.name,
                    "min": slot.vaccine.interval_min_days,
                    "max": slot.vaccine.interval_max_days,
                }
            )
        else:
            try:
                hold = _hold_take(slot=slot, options=options, now=now)
            except (SlotUnavailable, Dose2Unavailable) as error:
                refusal = error
            else:
                ordered = [hold.dose2_slot] if hold.dose2_slot else []
                ordered += [option for option in options if option.pk != hold.dose2_slot_id]
                return HoldResult(hold=hold, dose2_options=ordered)
        if attempt or not holds_expire(now=now, site_id=slot.site_id):
            break
    raise refusal


def _hold_release(*, hold: Hold, changes: SlotChanges) -> bool:
    """Give back a hold's places, once: the delete decides who does it."""
    deleted, _ = Hold.objects.filter(pk=hold.pk).delete()
    if not deleted:
        return False
    slot_release(slot_id=hold.slot_id, changes=changes)
    if hold.dose2_slot_id:
        slot_release(slot_id=hold.dose2_slot_id, changes=changes)
    return True


@retry_on_deadlock
@transaction.atomic
def hold_release(*, hold_id: str) -> None:
    hold = Hold.objects.filter(pk=hold_id).first()
    changes = SlotChanges()
    if hold is None or not _hold_release(hold=hold, changes=changes):
        raise NotFound(gettext("Cette réservation temporaire n'existe plus."))
    changes.apply()


def holds_expire(*, now: datetime | None = None, site_id: int | None = None) -> int:
    """Give back the places of expired holds (all, or one site's). Returns how many.

    Each hold is released in its own short transaction, in the usual lock order.
    """
    now = now or timezone.now()
    expired = Hold.objects.filter(expires_at__lte=now)
    if site_id is not None:
        expired = expired.filter(slot__site_id=site_id)
    released = 0
    for hold in list(expired.order_by("expires_at")[:1000]):
        with transaction.atomic():
            changes = SlotChanges()
            if _hold_release(hold=hold, changes=changes):
                changes.apply()
                released += 1
    return released


# Bookings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonData:
    given_name: str
    family_name: str
    birth_date: date
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """A staff or call-centre decision to book someone the rules would refuse."""

    by: AbstractBaseUser
    reason: str


@dataclass(frozen=True)
class BookingResult:
    series: Series
    management_token: str
    # False when the person already had an active series, which is answered instead.
    created: bool = True
    appointments: list[Appointment] = field(default_factory=list)


def _clean_name(value: str, label: str) -> str:
    value = " ".join(str(value).split())
    if not value or len(value) > NAME_MAX_LENGTH or _CONTROL.search(value):
        raise InvalidInput(
            gettext(_NAME_RULES[label]) % {"max": NAME_MAX_LENGTH}, field=label.lower()
        )
    return value


def _person_validate(person: PersonData, *, today: date) -> PersonData:
    if person.birth_date > today:
        raise InvalidInput(gettext("La date de naissance est dans le futur."), field="birth_date")
    if person.birth_date < today.replace(year=today.year - OLDEST_AGE_YEARS):
        raise InvalidInput(gettext("La date de naissance est trop ancienne."), field="birth_date")
    return PersonData(
        given_name=_clean_name(person.given_name, "Prénom"),
        family_name=_clean_name(person.family_name, "Nom"),
        birth_date=person.birth_date,
        categories=tuple(sorted(categories_validate(codes=person.categories))),
    )


def _match_key(person: PersonData) -> str:
    return f"{search_name(person.family_name)}|{search_name(person.given_name)}|{person.birth_date}"


def _request_hash(*, hold_id: str, dose2_slot_id: int | None, person: PersonData) -> str:
    body = [str(hold_id), dose2_slot_id, _match_key(person), sorted(person.categories)]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _result(
    series: Series, *, created: bool = True, appointments: list[Appointment] | None = None
) -> BookingResult:
    if appointments is None:
        appointments = list(
            series.appointments.select_related("slot").order_by("dose_number", "id")
        )
    return BookingResult(
        series=series,
        management_token=tokens.management_token(
            reference=series.reference, salt=series.token_salt
        ),
        created=created,
        appointments=appointments,
    )


def _replay(*, contact: Contact, key: str, request_hash: str) -> BookingResult | None:
    previous = (
        IdempotencyKey.objects.select_related("series__person", "series__vaccine")
        .filter(contact=contact, key=key)
        .first()
    )
    if previous is None:
        return None
    if previous.request_hash != request_hash:
        raise IdempotencyKeyReused(
            gettext("Cette clé d'idempotence a déjà servi pour une autre demande de réservation.")
        )
    return _result(previous.series)


def _notify(
    *,
    series: Series,
    kind: str,
    context: dict | None = None,
    appointments: list[Appointment] | None = None,
) -> None:
    """Write the message of a change; `appointments` (with their slots) saves a query."""
    contact = series.contact
    if appointments is None:
        appointments = list(series.appointments.select_related("slot").order_by("dose_number"))
    appointments = [a for a in appointments if a.status in ACTIVE_APPOINTMENT_STATUSES]
    tz = department_timezone(department_code=series.site.department_id)
    with translation.override(contact.language):
        when = [
            formats.date_format(appointment.slot.start.astimezone(tz), "l j F Y, H:i")
            for appointment in appointments
        ]
    notification_enqueue(
        channel=contact.channel,
        # A letter is addressed to the person, at the address the agent took down.
        to=f"{series.person.given_name} {series.person.family_name.upper()}\n{contact.address}"
        if contact.channel == Contact.Channel.LETTER
        else contact.address,
        kind=kind,
        event=f"series:{series.reference}:v{series.version}:{kind}",
        context={
            "reference": tokens.reference_display(series.reference),
            "manage_url": settings.BOOKING_LINK.format(
                reference=tokens.reference_display(series.reference),
                token=tokens.management_token(reference=series.reference, salt=series.token_salt),
            ),
            "person_name": f"{series.person.given_name} {series.person.family_name}",
            "site_name": series.site.name,
            "site_address": ", ".join(
                part for part in (series.site.address, series.site.postcode) if part
            ),
            "appointments": [
                {"dose_number": appointment.dose_number, "when": moment}
                for appointment, moment in zip(appointments, when, strict=True)
            ],
            **(context or {}),
        },
        language=contact.language,
    )


def _eligibility(
    *, person: PersonData | Person, slot: Slot, override: Override | None
) -> tuple[object, Override | None]:
    """The admitting rule, or the override that stands in for it (recorded on the series)."""
    candidate = Candidate(birth_date=person.birth_date, categories=frozenset(person.categories))
    facts = dict(candidate=candidate, vaccine=slot.vaccine, dose_number=1, site=slot.site)
    if override is None:
        return eligibility_require(**facts, on=slot.date), None
    if not override.reason.strip():
        raise InvalidInput(
            gettext("Une dérogation doit donner sa raison."), field="override_reason"
        )
    decision = eligibility_decide(**facts, on=slot.date)
    return decision.rule, (None if decision.eligible else override)


def _dose2_conditions(*, vaccine, site_id: int, dose1_date: date) -> dict:
    first, last = dose2_window(vaccine=vaccine, dose1_date=dose1_date)
    return dict(
        dose_number=2, site_id=site_id, vaccine_id=vaccine.pk, date__gte=first, date__lte=last
    )


def _dose2_refusal(*, slot: Slot, now: datetime) -> Dose2Unavailable:
    options = dose2_options(slot=slot, now=now)
    return Dose2Unavailable(
        gettext(
            "Ce créneau de seconde dose n'est plus libre ou ne convient pas (même lieu, "
            "de %(min)d à %(max)d jours après la première). Choisissez parmi les créneaux "
            "proposés."
        )
        % {"min": slot.vaccine.interval_min_days, "max": slot.vaccine.interval_max_days},
        dose2_options=[option.pk for option in options],
    )


@retry_on_deadlock
@transaction.atomic
def booking_confirm(
    *,
    hold_id: str,
    contact: Contact,
    person: PersonData,
    dose2_slot_id: int | None = None,
    idempotency_key: str | None = None,
    override: Override | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Turn a live hold into dose 1 + dose 2 for one person, both or neither (invariant 3).

    Retried with the same idempotency key and body, it answers the same booking
    (invariant 7); for a person who already has an active series it answers that series
    and gives the held places back (invariant 4).
    """
    now = now or timezone.now()
    person = _person_validate(person, today=timezone.localdate(now))
    # One booking at a time per contact: the replay, the person count and the match
    # below are read after this lock, so a concurrent twin is seen once it committed.
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if idempotency_key is not None:
        request_hash = _request_hash(hold_id=hold_id, dose2_slot_id=dose2_slot_id, person=person)
        replay = _replay(contact=contact, key=idempotency_key, request_hash=request_hash)
        if replay:
            return replay

    def remember(series: Series) -> None:
        if idempotency_key is not None:
            IdempotencyKey.objects.create(
                contact=contact, key=idempotency_key, request_hash=request_hash, series=series
            )

    changes = SlotChanges()
    hold = (
        Hold.objects.select_related("slot__vaccine", "slot__site", "slot__session", "dose2_slot")
        .filter(pk=hold_id)
        .first()
    )
    # The contact's persons (six at most): the match and the count in one read.
    persons = list(Person.objects.filter(contact=contact))
    existing_person = next((p for p in persons if p.match_key == _match_key(person)), None)
    if existing_person is not None:
        active = (
            Series.objects.select_related("person", "vaccine")
            .filter(person=existing_person, status=Series.Status.ACTIVE)
            .first()
        )
        if active is not None:
            if hold is not None and _hold_release(hold=hold, changes=changes):
                changes.apply()
            remember(active)
            return _result(active, created=False)

    if hold is None or hold.expires_at <= now or not _hold_release_claim(hold=hold, now=now):
        raise HoldExpired(
            gettext(
                "Cette réservation temporaire n'existe plus (temps écoulé ou déjà utilisée) : "
                "le créneau a pu être repris. Choisissez de nouveau un créneau."
            )
        )
    slot = hold.slot
    if slot.start <= now:
        raise SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.session.status != Session.Status.OPEN:
        raise SlotUnavailable(gettext("Ce créneau n'est plus proposé."), reason="closed")
    rule, recorded_override = _eligibility(person=person, slot=slot, override=override)

    vaccine = slot.vaccine
    dose2_slot = hold.dose2_slot
    if vaccine.doses_in_series == 1 and dose2_slot_id is not None:
        raise InvalidInput(
            gettext("%(vaccine)s se donne en une seule dose.") % {"vaccine": vaccine.name},
            field="dose2_slot_id",
        )
    if dose2_slot_id is not None and dose2_slot_id != hold.dose2_slot_id:
        conditions = _dose2_conditions(vaccine=vaccine, site_id=slot.site_id, dose1_date=slot.date)
        dose2_slot = slot_take(slot_id=dose2_slot_id, now=now, changes=changes, **conditions)
        if dose2_slot is None:
            raise _dose2_refusal(slot=slot, now=now)
        slot_release(slot_id=hold.dose2_slot_id, changes=changes)

    if existing_person is None:
        # The cap stops one phone or mailbox hoarding places online. An address only an
        # agent can enter (audited) may be a care home's, with many residents.
        if contact.channel != Contact.Channel.LETTER and len(persons) >= MAX_PERSONS_PER_CONTACT:
            raise TooManyPersons(
                gettext("Un même contact peut réserver pour %(max)d personnes au plus.")
                % {"max": MAX_PERSONS_PER_CONTACT}
            )
        booked_person = Person.objects.create(
            contact=contact,
            given_name=person.given_name,
            family_name=person.family_name,
            birth_date=person.birth_date,
            categories=list(person.categories),
            match_key=_match_key(person),
        )
    else:
        booked_person = existing_person
        if booked_person.categories != list(person.categories):
            Person.objects.filter(pk=booked_person.pk).update(categories=list(person.categories))

    series = _series_create(
        person=booked_person,
        contact=contact,
        slot=slot,
        rule=rule,
        override=recorded_override,
    )
    appointments = Appointment.objects.bulk_create(
        Appointment(series=series, person=booked_person, slot=booked_slot, dose_number=dose)
        for dose, booked_slot in enumerate(filter(None, [slot, dose2_slot]), start=1)
    )
    changes.apply()
    _notify(series=series, kind=Notification.Kind.BOOKING_CONFIRMED, appointments=appointments)
    remember(series)
    return _result(series, appointments=appointments)


def _hold_release_claim(*, hold: Hold, now: datetime) -> bool:
    """Consume a live hold: its places become the booking's, so `booked` stays as it is."""
    deleted, _ = Hold.objects.filter(pk=hold.pk, expires_at__gt=now).delete()
    return bool(deleted)


def _override_fields(override: Override | None) -> dict:
    if override is None:
        return {}
    return {"override_reason": override.reason.strip()[:300], "override_by": override.by}


def _series_create(
    *, person: Person, contact: Contact, slot: Slot, rule, override: Override | None
) -> Series:
    """The unique constraints decide: a reference drawn twice in 2^40 is drawn again; the
    same person (names and birth date) already booked through another contact is refused."""
    for attempt in range(2):
        try:
            with transaction.atomic():
                return Series.objects.create(
                    reference=tokens.reference_new(),
                    token_salt=tokens.salt_new(),
                    person=person,
                    person_key=person.match_key,
                    contact=contact,
                    vaccine=slot.vaccine,
                    site=slot.site,
                    eligibility_rule=rule,
                    **_override_fields(override),
                )
        except IntegrityError:
            if Series.objects.filter(
                person_key=person.match_key, status=Series.Status.ACTIVE
            ).exists():
                raise AlreadyBooked(
                    gettext(
                        "Cette personne (mêmes nom, prénom et date de naissance) a déjà un "
                        "rendez-vous en cours, pris avec un autre téléphone ou e-mail. "
                        "Utilisez sa référence, ou appelez le centre d'appel si c'est une "
                        "autre personne."
                    )
                ) from None
            if attempt:
                raise


# Moves and cancellations ----------------------------------------------------------------


def _series_locked():
    """Series rows locked (theirs only, not the joined rows), with what messages need."""
    return Series.objects.select_for_update(of=("self",)).select_related(
        "person", "contact", "site", "vaccine"
    )


def _series_lock(*, series_id: int) -> Series:
    series = _series_locked().get(pk=series_id)
    if series.status != Series.Status.ACTIVE:
        raise InvalidInput(gettext("Ce rendez-vous est annulé ou terminé : il ne se modifie plus."))
    return series


def _active_appointments(series: Series) -> dict[int, Appointment]:
    return {
        appointment.dose_number: appointment
        for appointment in series.appointments.select_related("slot", "slot__vaccine").filter(
            status__in=ACTIVE_APPOINTMENT_STATUSES
        )
    }


def _series_bump(series: Series, **fields: object) -> None:
    series.version += 1
    for name, value in fields.items():
        setattr(series, name, value)
    Series.objects.filter(pk=series.pk).update(version=F("version") + 1, **fields)


@retry_on_deadlock
@transaction.atomic
def booking_move(
    *,
    series_id: int,
    dose_number: int,
    slot_id: int,
    dose2_slot_id: int | None = None,
    override: Override | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Move one dose to another slot, taking the new place and giving back the old one in
    one transaction. Moving dose 1 keeps dose 2 when it still fits (same site, inside the
    interval) and otherwise moves it too, to `dose2_slot_id` or the best free option."""
    now = now or timezone.now()
    series = _series_lock(series_id=series_id)
    appointments = _active_appointments(series)
    moved = appointments.get(dose_number)
    if moved is None:
        raise InvalidInput(
            gettext("Ce rendez-vous n'a pas de dose %(dose)d à déplacer.") % {"dose": dose_number}
        )
    if moved.status != Appointment.Status.BOOKED or moved.slot.start <= now:
        raise InvalidInput(gettext("Ce rendez-vous a déjà commencé : il ne se déplace plus."))
    if slot_id == moved.slot_id:
        raise InvalidInput(gettext("Le rendez-vous est déjà sur ce créneau."))
    changes = SlotChanges()
    vaccine = series.vaccine
    if dose_number == 1:
        new_slot = slot_take(
            slot_id=slot_id, now=now, changes=changes, dose_number=1, vaccine_id=vaccine.pk
        )
        if new_slot is None:
            raise _move_refusal(slot_id=slot_id, now=now)
        rule, recorded_override = _eligibility(
            person=series.person, slot=new_slot, override=override
        )
        slot_release(slot_id=moved.slot_id, changes=changes)
        Appointment.objects.filter(pk=moved.pk).update(slot=new_slot)
        dose2 = appointments.get(2)
        window = _dose2_conditions(
            vaccine=vaccine, site_id=new_slot.site_id, dose1_date=new_slot.date
        )
        if dose2 is not None and not (
            dose2.slot.site_id == new_slot.site_id
            and window["date__gte"] <= dose2.slot.date <= window["date__lte"]
            and dose2_slot_id in (None, dose2.slot_id)
        ):
            candidates = (
                [dose2_slot_id]
                if dose2_slot_id
                else [option.pk for option in dose2_options(slot=new_slot, now=now)]
            )
            taken = next(
                (
                    candidate
                    for candidate in candidates
                    if slot_take(slot_id=candidate, now=now, changes=changes, **window)
                ),
                None,
            )
            if taken is None:
                raise _dose2_refusal(slot=new_slot, now=now)
            slot_release(slot_id=dose2.slot_id, changes=changes)
            Appointment.objects.filter(pk=dose2.pk).update(slot_id=taken)
        _series_bump(
            series, site=new_slot.site, eligibility_rule=rule, **_override_fields(recorded_override)
        )
    else:
        dose1 = (
            appointments.get(1)
            or series.appointments.select_related("slot")
            .filter(dose_number=1, status=Appointment.Status.FULFILLED)
            .first()
        )
        if dose1 is None:
            raise InvalidInput(
                gettext(
                    "La première dose de ce parcours n'a pas eu lieu : "
                    "prenez un nouveau rendez-vous."
                )
            )
        window = _dose2_conditions(
            vaccine=vaccine, site_id=series.site_id, dose1_date=dose1.slot.date
        )
        if slot_take(slot_id=slot_id, now=now, changes=changes, **window) is None:
            raise _dose2_refusal(slot=dose1.slot, now=now)
        slot_release(slot_id=moved.slot_id, changes=changes)
        Appointment.objects.filter(pk=moved.pk).update(slot_id=slot_id)
        _series_bump(series)
    changes.apply()
    _notify(series=series, kind=Notification.Kind.BOOKING_MOVED)
    return _result(series)


def _move_refusal(*, slot_id: int, now: datetime) -> Exception:
    slot = Slot.objects.filter(pk=slot_id).first()
    if slot is None:
        return NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if slot.start <= now:
        return SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.dose_number != 1:
        return InvalidInput(gettext("Ce créneau n'est pas un créneau de première dose."))
    return _slot_refusal(slot_id=slot_id, now=now)


def _doses_left_promised(series: Series) -> int:
    """Doses still promised to a course whose first dose was given: its first-dose place
    promised the whole course, and a course that ends now will not use the rest."""
    given = list(
        series.appointments.filter(status=Appointment.Status.FULFILLED).select_related(
            "slot__session"
        )
    )
    first = next((a for a in given if a.dose_number == 1), None)
    return first.slot.session.doses_per_place - len(given) if first else 0


def _series_cancel(*, series: Series, reason: str, now: datetime, changes: SlotChanges) -> int:
    """Cancel every appointment still to come of a locked series, giving back its places
    and, when its first dose was given, the doses it no longer needs. Returns how many
    appointments it cancelled."""
    active = _active_appointments(series)
    appointments = sorted(active.values(), key=lambda a: a.dose_number)
    if any(a.status == Appointment.Status.ARRIVED for a in appointments):
        raise InvalidInput(gettext("La personne est déjà sur place : le lieu enregistre la suite."))
    for appointment in appointments:
        slot_release(slot_id=appointment.slot_id, changes=changes)
    Appointment.objects.filter(pk__in=[a.pk for a in appointments]).update(
        status=Appointment.Status.CANCELLED, updated_at=now
    )
    if 1 not in active:  # its first dose may have been given
        changes.release_doses(
            site_id=series.site_id,
            vaccine_id=series.vaccine_id,
            doses=_doses_left_promised(series),
        )
    _series_bump(series, status=Series.Status.CANCELLED, cancel_reason=reason[:300])
    return len(appointments)


@retry_on_deadlock
@transaction.atomic
def booking_cancel(
    *, series_id: int, reason: str = "", now: datetime | None = None
) -> BookingResult:
    """Cancel a booking's appointments still to come; a cancelled one answers as it is."""
    now = now or timezone.now()
    series = _series_locked().get(pk=series_id)
    if series.status == Series.Status.CANCELLED:
        return _result(series)
    if series.status != Series.Status.ACTIVE:
        raise InvalidInput(gettext("Ce parcours est terminé : il n'y a plus rien à annuler."))
    started = series.appointments.filter(
        status=Appointment.Status.BOOKED, slot__start__lte=now
    ).exists()
    if started:
        raise InvalidInput(
            gettext(
                "Un rendez-vous de ce parcours a déjà commencé : "
                "adressez-vous au lieu de vaccination."
            )
        )
    changes = SlotChanges()
    _series_cancel(series=series, reason=reason, now=now, changes=changes)
    changes.apply()
    appointments = list(series.appointments.select_related("slot").order_by("dose_number", "id"))
    _notify(
        series=series,
        kind=Notification.Kind.BOOKING_CANCELLED,
        context={"reason": reason},
        appointments=appointments,
    )
    return _result(series, appointments=appointments)


@retry_on_deadlock
@transaction.atomic
def session_cancel(*, session_id: int, reason: str, now: datetime | None = None) -> int:
    """Cancel one session (see `cancellation_create`); returns how many courses it touched."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    cancellation = cancellation_create(
        site_id=session.site_id,
        scope=Cancellation.Scope.SESSION,
        session_id=session_id,
        reason=reason,
        now=now,
    )
    return cancellation.courses


@retry_on_deadlock
@transaction.atomic
def cancellation_create(
    *,
    site_id: int,
    scope: str,
    reason: str,
    by: AbstractBaseUser | None = None,
    session_id: int | None = None,
    day: date | None = None,
    now: datetime | None = None,
) -> Cancellation:
    """Cancel a session, a day at a site, or everything ahead at a site (which also
    closes it to the public), in one action: one afternoon of phone calls saved.

    The sessions close (their free places and doses go back), holds on them end, and
    every course with an appointment in them is cancelled, its contact told why, with a
    link to rebook in one click. A course whose first dose was already given loses only
    its second-dose appointment: it stays open, its dose still promised, and the link
    offers a new second-dose date (never a dose 1 without its dose 2, never a lost
    dose 2). A cancelled dose-2 session takes dose 1 with it when dose 1 is still to come.
    """
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            gettext("Donnez la raison de l'annulation : elle est dite aux personnes."),
            field="reason",
        )
    if len(reason) > 300:
        raise InvalidInput(gettext("La raison tient en 300 caractères au plus."), field="reason")
    sessions = list(
        cancellation_sessions(site_id=site_id, scope=scope, session_id=session_id, day=day, now=now)
        .select_for_update()
        .order_by("pk")
    )
    if scope == Cancellation.Scope.SESSION and not sessions:
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    if scope == Cancellation.Scope.SITE:
        with contextlib.suppress(NotFound):  # already closed to the public
            site_close(site_id=site_id)
    session_ids = [session.pk for session in sessions]
    # The sessions' places first: from here no new hold can be taken on them (hold_create
    # waits, then finds the session closed), so the holds listed below are all there are.
    # Then the holds, before the read model that closing a session locks: a booking that
    # is consuming one holds its row and may need the read model next.
    # (NO KEY UPDATE: a booking inserting its appointment takes KEY SHARE on the slot.)
    list(
        Slot.objects.select_for_update(no_key=True)
        .filter(session_id__in=session_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    changes = SlotChanges()
    for hold in Hold.objects.filter(
        Q(slot__session_id__in=session_ids) | Q(dose2_slot__session_id__in=session_ids)
    ).order_by("pk"):
        _hold_release(hold=hold, changes=changes)
    changes.apply()
    for session in sessions:
        if session.status == Session.Status.OPEN:
            session_close(session_id=session.pk)
    # Read after the holds are gone: a booking that claimed one first has committed.
    affected = (
        Appointment.objects.filter(
            slot__session_id__in=session_ids, slot__end__gt=now, status=Appointment.Status.BOOKED
        )
        .values_list("series_id", flat=True)
        .distinct()
    )
    cancellation = Cancellation.objects.create(
        site_id=site_id,
        scope=scope,
        session_id=session_id if scope == Cancellation.Scope.SESSION else None,
        day=day if scope == Cancellation.Scope.DAY else None,
        reason=reason,
        by=by if by is not None and by.is_authenticated else None,
        sessions=len(sessions),
    )
    series_ids = list(affected)
    # Courses whose first dose was given (or is being given): they keep going. One whose
    # first dose passed with nothing recorded goes whole: never a dose 1 without its dose 2.
    under_way = set(
        Appointment.objects.filter(
            series_id__in=series_ids,
            dose_number=1,
            status__in=(Appointment.Status.FULFILLED, Appointment.Status.ARRIVED),
        ).values_list("series_id", flat=True)
    )
    # In bulk: a day of a large centre is a thousand courses. Series rows first (locked
    # in id order), then the places, then stock and read model, then the outbox.
    courses = list(
        _series_locked().filter(pk__in=series_ids, status=Series.Status.ACTIVE).order_by("pk")
    )
    whole = [series.pk for series in courses if series.pk not in under_way]
    dose2_only = [series.pk for series in courses if series.pk in under_way]
    cancelled = list(
        Appointment.objects.filter(
            Q(series_id__in=whole) | Q(series_id__in=dose2_only, slot__session_id__in=session_ids),
            status=Appointment.Status.BOOKED,
        )
        .order_by("slot_id")
        .values_list("pk", "slot_id")
    )
    slots_release(slot_ids=[slot_id for _, slot_id in cancelled], changes=changes)
    Appointment.objects.filter(pk__in=[pk for pk, _ in cancelled]).update(
        status=Appointment.Status.CANCELLED, updated_at=now
    )
    Series.objects.filter(pk__in=whole).update(
        status=Series.Status.CANCELLED, cancel_reason=reason, version=F("version") + 1
    )
    Series.objects.filter(pk__in=dose2_only).update(version=F("version") + 1)
    items = []
    for series in courses:
        series.version += 1
        if series.pk in under_way:
            items.append(CancellationItem(cancellation=cancellation, series=series, dose_number=2))
        else:
            series.status, series.cancel_reason = Series.Status.CANCELLED, reason
            items.append(CancellationItem(cancellation=cancellation, series=series, dose_number=1))
    cancelled_appointments = len(cancelled)
    CancellationItem.objects.bulk_create(items)
    changes.apply()
    for item in items:
        _notify(
            series=item.series,
            kind=Notification.Kind.BOOKING_CANCELLED,
            appointments=[],  # none is left to come in either case
            context={
                "reason": reason,
                "rebook_url": settings.REBOOK_LINK.format(
                    token=tokens.rebook_token(item_id=item.pk)
                ),
                "dose2_only": item.dose_number == 2,
            },
        )
    Cancellation.objects.filter(pk=cancellation.pk).update(
        courses=len(items), appointments=cancelled_appointments, notifications=len(items)
    )
    cancellation.refresh_from_db()
    return cancellation


@retry_on_deadlock
@transaction.atomic
def booking_dose2_rebook(
    *, series_id: int, slot_id: int, now: datetime | None = None
) -> BookingResult:
    """A new second-dose appointment for a course whose first dose was given and whose
    second has none (cancelled with its session, or missed): same site, inside the
    interval. The dose it needs is still promised by the first-dose place."""
    now = now or timezone.now()
    series = _series_lock(series_id=series_id)
    if 2 in _active_appointments(series):
        raise InvalidInput(gettext("Ce parcours a déjà un rendez-vous de 2e dose : déplacez-le."))
    dose1 = (
        series.appointments.select_related("slot__vaccine")
        .filter(
            dose_number=1,
            status__in=(Appointment.Status.FULFILLED, Appointment.Status.ARRIVED),
        )
        .first()
    )
    if dose1 is None or series.vaccine.doses_in_series < 2:
        raise InvalidInput(
            gettext(
                "La première dose de ce parcours n'a pas eu lieu : prenez un nouveau rendez-vous."
            )
        )
    changes = SlotChanges()
    conditions = _dose2_conditions(
        vaccine=series.vaccine, site_id=series.site_id, dose1_date=dose1.slot.date
    )
    if slot_take(slot_id=slot_id, now=now, changes=changes, **conditions) is None:
        raise _dose2_refusal(slot=dose1.slot, now=now)
    Appointment.objects.create(series=series, person=series.person, slot_id=slot_id, dose_number=2)
    _series_bump(series)
    changes.apply()
    _notify(series=series, kind=Notification.Kind.BOOKING_CONFIRMED)
    return _result(series)


@retry_on_deadlock
@transaction.atomic
def booking_rebook(*, item_id: int, slot_id: int, now: datetime | None = None) -> BookingResult:
    """One click from a cancellation message: a new appointment for the course the
    cancellation touched, for the same person and contact, with no new code (the signed
    link is the key). A whole course is booked again from `slot_id` (dose 1, and dose 2
    with it), under the same eligibility decision or override; a course that only lost
    its dose 2 gets it back at `slot_id`.

    Each item is claimed once by a conditional update, so a double click or a retried
    request answers the booking the first click made.
    """
    now = now or timezone.now()
    claimed = CancellationItem.objects.filter(pk=item_id, rebooked_at__isnull=True).update(
        rebooked_at=now
    )
    item = CancellationItem.objects.select_related(
        "series__person", "series__contact", "series__override_by", "rebooked_series"
    ).get(pk=item_id)
    if not claimed:
        return _result(item.rebooked_series, created=False)
    old = item.series
    if item.dose_number == 2:
        result = booking_dose2_rebook(series_id=old.pk, slot_id=slot_id, now=now)
    else:
        hold = hold_create(slot_id=slot_id, now=now).hold
        result = booking_confirm(
            hold_id=hold.pk,
            contact=old.contact,
            person=PersonData(
                given_name=old.person.given_name,
                family_name=old.person.family_name,
                birth_date=old.person.birth_date,
                categories=tuple(old.person.categories),
            ),
            override=(
                Override(by=old.override_by, reason=old.override_reason)
                if old.override_by_id
                else None
            ),
            now=now,
        )
    CancellationItem.objects.filter(pk=item_id).update(rebooked_series=result.series)
    return result
