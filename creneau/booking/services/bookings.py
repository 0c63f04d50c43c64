"""Booking a course (dose 1 and dose 2 in one transaction, both or neither: invariant 3)
and moving one of its doses."""

import hashlib
import json
import re
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import (
    AlreadyBooked,
    HoldExpired,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    TooManyPersons,
)
from creneau.eligibility.selectors import categories_validate
from creneau.geography.text import search_name
from creneau.outreach.models import Notification
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.services import SlotChanges, slot_release, slot_take

from .. import tokens
from ..actions import DOSE1_FOR_MOVE, active_by_dose, booking_move_decide, dose1_get
from ..models import Appointment, Contact, Hold, IdempotencyKey, Person, Series
from ..selectors import dose2_options
from .course import (
    BookingResult,
    Override,
    PersonData,
    _course_appointments,
    _dose2_conditions,
    _dose2_refusal,
    _eligibility,
    _notify,
    _override_fields,
    _result,
    _series_bump,
    _series_lock,
    _staff_record,
)
from .holds import _hold_release, _hold_release_claim, _slot_refusal

MAX_PERSONS_PER_CONTACT = 6
NAME_MAX_LENGTH = 100
OLDEST_AGE_YEARS = 130
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a name must be, said of each name field (whole sentences, for translators).
_NAME_RULES = {
    "Prénom": gettext_noop("Prénom : de 1 à %(max)d caractères lisibles."),
    "Nom": gettext_noop("Nom : de 1 à %(max)d caractères lisibles."),
}


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


@unit_of_work
def booking_confirm(
    *,
    hold_id: str,
    contact: Contact,
    person: PersonData,
    dose2_slot_id: int | None = None,
    idempotency_key: str | None = None,
    override: Override | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Turn a live hold into dose 1 + dose 2 for one person, both or neither (invariant 3).

    Retried with the same idempotency key and body, it answers the same booking
    (invariant 7); for a person who already has an active series it answers that series
    and gives the held places back (invariant 4). A booking a member of staff made for a
    caller (`actor`) is in the audit log with its override, if any (invariants 6 and 8).
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
    _booking_record(actor=actor, series=series)
    return _result(series, appointments=appointments)


def _booking_record(*, actor: Actor | None, series: Series) -> None:
    """Invariants 6 and 8: a booking by staff is audited, and so is its override."""
    if actor is None:
        return
    audit_record(
        actor=actor,
        action="create",
        obj=series,
        site=series.site,
        summary=gettext("Réservation par téléphone"),
    )
    if series.override_reason:
        audit_record(
            actor=actor,
            action="override",
            obj=series,
            site=series.site,
            summary=gettext("Dérogation : %(reason)s") % {"reason": series.override_reason[:200]},
        )


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


@unit_of_work
def booking_move(
    *,
    series_id: int,
    dose_number: int,
    slot_id: int,
    dose2_slot_id: int | None = None,
    override: Override | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Move one dose to another slot, taking the new place and giving back the old one in
    one transaction. Moving dose 1 keeps dose 2 when it still fits (same site, inside the
    interval) and otherwise moves it too, to `dose2_slot_id` or the best free option.
    A move by a member of staff (`actor`) is in the audit log."""
    now = now or timezone.now()
    series = _series_lock(series_id=series_id)
    course = _course_appointments(series)
    booking_move_decide(
        series=series, appointments=course, dose_number=dose_number, now=now
    ).enforce()
    appointments = active_by_dose(appointments=course)
    moved = appointments[dose_number]
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
        dose1 = dose1_get(appointments=course, statuses=DOSE1_FOR_MOVE)
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
    _staff_record(
        actor=actor,
        series=series,
        summary=gettext("Dose %(dose)s déplacée par téléphone") % {"dose": dose_number},
    )
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
