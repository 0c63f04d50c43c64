"""Booking a course (dose 1 and dose 2 in one transaction, both or neither: invariant 3)
and moving one of its doses."""

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import ParamSpec, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import is_postgresql, row_insert, rows_insert, unit_of_work
from creneau.core.errors import (
    AlreadyBooked,
    HoldExpired,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    StockInsufficient,
    TooManyPersons,
)
from creneau.core.metrics import refusals_counted
from creneau.core.text import text_normalize
from creneau.eligibility.selectors import categories_validate
from creneau.outreach.models import Notification
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.services import SlotChanges, slot_release, slot_take
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import stock_commit

from .. import tokens
from ..actions import (
    DOSE1_FOR_MOVE,
    active_by_dose,
    booking_move_decide,
    dose1_day,
    dose1_get,
)
from ..ages import age_band
from ..metrics import BOOKINGS
from ..models import Appointment, Contact, Dose1Declarant, Hold, IdempotencyKey, Person, Series
from ..persons import person_index, person_name_index
from ..selectors import DOSE2_ALONE_DOSES, dose2_options, dose2_stays
from ..sql import contact_for_booking, course_write, hold_consume
from .course import (
    BookingResult,
    Override,
    PersonData,
    _course_appointments,
    _dose2_conditions,
    _dose2_refusal,
    _eligibility,
    _notification,
    _notify,
    _override_fields,
    _result,
    _series_bump,
    _series_lock,
    _staff_record,
)
from .holds import _hold_release, _slot_refusal, hold_release

P = ParamSpec("P")
R = TypeVar("R")
MAX_PERSONS_PER_CONTACT = 6
NAME_MAX_LENGTH = 100
OLDEST_AGE_YEARS = 130
# What a name must be, said of each name field (whole sentences, for translators).
_NAME_RULES = {
    "Prénom": gettext_noop("Prénom : de 1 à %(max)d caractères lisibles, dont une lettre."),
    "Nom": gettext_noop("Nom : de 1 à %(max)d caractères lisibles, dont une lettre."),
}


def _clean_name(value: str, label: str) -> str:
    """Invariant 4: the name as shown, without the invisible characters that would make a
    look-alike of a person already booked a new person (core.text)."""
    value = text_normalize(value).shown
    if len(value) > NAME_MAX_LENGTH or not any(character.isalpha() for character in value):
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
    return person_index(
        given_name=person.given_name, family_name=person.family_name, birth_date=person.birth_date
    )


def _request_hash(*, hold_id: str, dose2_slot_id: int | None, person: PersonData) -> str:
    body = [str(hold_id), dose2_slot_id, _match_key(person), sorted(person.categories)]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _replay(*, contact: Contact, key: str, request_hash: str) -> BookingResult:
    """Invariant 7: the same key and body answer the first booking; another body is refused."""
    previous = IdempotencyKey.objects.select_related("series__person", "series__vaccine").get(
        contact=contact, key=key
    )
    if previous.request_hash != request_hash:
        raise IdempotencyKeyReused(
            gettext("Cette clé d'idempotence a déjà servi pour une autre demande de réservation.")
        )
    return _result(previous.series, created=previous.created)


def _hold_released_when_refused(service: Callable[P, R]) -> Callable[P, R]:
    """A booking refused for who the person is, or for a dose 2 alone that the site has
    no dose left to promise to, gives its held places back at once: the hold outlives
    the rolled-back transaction otherwise, and the same question could be asked again
    and again with it (or the place kept from others for nothing)."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except (AlreadyBooked, StockInsufficient):
            with contextlib.suppress(NotFound):
                hold_release(hold_id=kwargs["hold_id"])
            raise

    return run


@_hold_released_when_refused
@refusals_counted("booking")
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
    with `created` False (and so does its retry) and gives the held places back
    (invariant 4). A booking a member of staff made for a caller (`actor`) is in the audit
    log with its override, if any (invariants 6 and 8).
    """
    now = now or timezone.now()
    person = _person_validate(person, today=timezone.localdate(now))
    # Lock order: the contact row first, so a contact books one course at a time; the
    # replay, the person count and the match are read under that lock, so a concurrent
    # twin is seen once it committed.
    locked = contact_for_booking(contact_id=contact.pk, key=idempotency_key)
    contact = locked.contact
    request_hash = None
    if idempotency_key is not None:
        request_hash = _request_hash(hold_id=hold_id, dose2_slot_id=dose2_slot_id, person=person)
        if locked.key_used:
            return _replay(contact=contact, key=idempotency_key, request_hash=request_hash)
    changes = SlotChanges()
    persons = locked.persons
    key = _match_key(person)
    existing_person = next((p for p in persons if p.match_key == key), None)
    active = _already_booked(person=existing_person, hold_id=hold_id, changes=changes)
    if active is not None:
        _remember(
            contact=contact,
            key=idempotency_key,
            request_hash=request_hash,
            series=active,
            created=False,
        )
        return _result(active, created=False)
    hold = hold_consume(hold_id=hold_id, now=now)
    slot = _hold_slot_checked(hold=hold, now=now)
    rule, recorded_override = _eligibility(person=person, slot=slot, override=override, now=now)
    if hold.dose1_elsewhere_on is None:
        dose2_slot = _dose2_chosen(hold=hold, dose2_slot_id=dose2_slot_id, now=now, changes=changes)
    else:
        dose2_slot = _dose2_alone_promised(hold=hold, dose2_slot_id=dose2_slot_id)
    booked_person = _person_booked(
        contact=contact, person=person, persons=persons, existing=existing_person
    )
    changes.apply()
    series, appointments = _course_written(
        person=booked_person,
        series=_series_new(
            person=booked_person,
            contact=contact,
            slot=slot,
            rule=rule,
            override=recorded_override,
            dose1_elsewhere=_dose1_elsewhere_fields(hold=hold, actor=actor),
        ),
        slots=[slot, dose2_slot],
        key=idempotency_key,
        request_hash=request_hash,
    )
    _booking_record(actor=actor, series=series)
    transaction.on_commit(BOOKINGS.inc)
    return _result(series, appointments=appointments)


def _remember(
    *,
    contact: Contact,
    key: str | None,
    request_hash: str | None,
    series: Series,
    created: bool = True,
) -> None:
    """Invariant 7: the key answers this series, and whether it was booked then, when the
    same request comes again."""
    if key is not None:
        row_insert(
            IdempotencyKey(
                contact=contact, key=key, request_hash=request_hash, series=series, created=created
            )
        )


def _already_booked(*, person: Person | None, hold_id: str, changes: SlotChanges) -> Series | None:
    """Invariant 4: a person with an active series gets it back, and the held places go back."""
    if person is None:
        return None
    active = (
        Series.objects.select_related("person", "vaccine")
        .filter(person=person, status=Series.Status.ACTIVE)
        .first()
    )
    hold = Hold.objects.filter(pk=hold_id).first() if active is not None else None
    if hold is not None and _hold_release(hold=hold, changes=changes):
        changes.apply()
    return active


def _hold_slot_checked(*, hold: Hold | None, now: datetime) -> Slot:
    """Invariant 1: a live hold's places became the booking's (booking.sql.hold_consume),
    once, so `booked` stays. Returns the first-dose slot, still to come in an open session."""
    if hold is None:
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
    return slot


def _dose2_chosen(
    *, hold: Hold, dose2_slot_id: int | None, now: datetime, changes: SlotChanges
) -> Slot | None:
    """Invariant 3: dose 2 is the held place, or the person's choice at the site, in the interval.

    The chosen place is taken before the held one is given back."""
    slot = hold.slot
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
            raise _dose2_refusal(vaccine=vaccine, dose1_slot=slot, now=now)
        slot_release(slot_id=hold.dose2_slot_id, changes=changes)
    return dose2_slot


def _dose2_alone_promised(*, hold: Hold, dose2_slot_id: int | None) -> None:
    """Invariant 2: a second-dose place promises no dose (its first-dose place promised
    both, scheduling.doses_per_place), so a dose 2 booked alone, its dose 1 given
    elsewhere, promises its one dose from the site's stock not yet promised, or is
    refused. Lock order: after the places (the hold's, consumed), before the read model."""
    if dose2_slot_id is not None:
        raise InvalidInput(
            gettext(
                "Cette réservation est celle de la seconde dose seule : rien d'autre à choisir."
            ),
            field="dose2_slot_id",
        )
    stock_commit(
        site_id=hold.slot.site_id, vaccine_id=hold.slot.vaccine_id, doses=DOSE2_ALONE_DOSES
    )


def _dose1_elsewhere_fields(*, hold: Hold, actor: Actor | None) -> dict:
    """A course whose dose 1 was given elsewhere records its day and who declared it:
    the caller, through an agent (`actor`), or the person themself."""
    if hold.dose1_elsewhere_on is None:
        return {}
    return {
        "dose1_elsewhere_on": hold.dose1_elsewhere_on,
        "dose1_elsewhere_declared_by": Dose1Declarant.AGENT if actor else Dose1Declarant.PERSON,
    }


def _person_booked(
    *, contact: Contact, person: PersonData, persons: list[Person], existing: Person | None
) -> Person:
    """Invariant 4: one row per person under a contact, whose match key finds their series;
    a new one is not written yet (it is written with the course, _course_written)."""
    if existing is not None:
        if existing.categories != list(person.categories):
            Person.objects.filter(pk=existing.pk).update(categories=list(person.categories))
        return existing
    # The cap stops one phone or mailbox hoarding places online. An address only an
    # agent can enter (audited) may be a care home's, with many residents.
    if contact.channel != Contact.Channel.LETTER and len(persons) >= MAX_PERSONS_PER_CONTACT:
        raise TooManyPersons(
            gettext("Un même contact peut réserver pour %(max)d personnes au plus.")
            % {"max": MAX_PERSONS_PER_CONTACT}
        )
    return Person(
        contact=contact,
        given_name=person.given_name,
        family_name=person.family_name,
        birth_date=person.birth_date,
        categories=list(person.categories),
        match_key=_match_key(person),
        name_index=person_name_index(family_name=person.family_name, birth_date=person.birth_date),
    )


def _appointments_new(
    *, series: Series, person: Person, slots: list[Slot | None]
) -> list[Appointment]:
    """Invariant 3: dose 1 and its dose 2 are written together, in one statement (or a
    dose 2 alone, its dose 1 given elsewhere: each appointment is its slot's dose)."""
    return [
        Appointment(series=series, person=person, slot=slot, dose_number=slot.dose_number)
        for slot in slots
        if slot is not None
    ]


def _booking_record(*, actor: Actor | None, series: Series) -> None:
    """Invariants 6 and 8: a booking by staff is audited, and so is its override."""
    if actor is None:
        return
    audit_record(
        actor=actor,
        action="create",
        obj=series,
        site=series.site,
        summary=gettext("Réservation par téléphone")
        if series.dose1_elsewhere_on is None
        else gettext("2e dose seule réservée par téléphone, 1re dose reçue ailleurs le %(day)s")
        % {"day": series.dose1_elsewhere_on.strftime("%d/%m/%Y")},
    )
    if series.override_reason:
        audit_record(
            actor=actor,
            action="override",
            obj=series,
            site=series.site,
            summary=gettext("Dérogation : %(reason)s") % {"reason": series.override_reason[:200]},
        )


def _series_new(
    *,
    person: Person,
    contact: Contact,
    slot: Slot,
    rule,
    override: Override | None,
    dose1_elsewhere: dict,
) -> Series:
    """A course at the slot's site, not yet written, under a new reference."""
    return Series(
        reference=tokens.reference_new(),
        token_salt=tokens.salt_new(),
        person=person,
        person_key=person.match_key,
        contact=contact,
        vaccine=slot.vaccine,
        site=slot.site,
        age_band=age_band(birth_date=person.birth_date, on=slot.date),
        eligibility_rule=rule,
        **_override_fields(override),
        **dose1_elsewhere,
    )


def _course_written(
    *,
    person: Person,
    series: Series,
    slots: list[Slot | None],
    key: str | None,
    request_hash: str | None,
) -> tuple[Series, list[Appointment]]:
    """The person (when new), the course, its appointments (invariant 3: dose 1 and dose 2
    together), its message (invariant 5) and the idempotency key (invariant 7), written:
    on PostgreSQL in one statement (booking.sql.course_write), on SQLite one statement
    each (its writers run one at a time, in process: a round trip costs little).

    Invariant 4: the unique constraints decide who has an active series, through an
    insert that answers a conflict instead of failing (ON CONFLICT DO NOTHING: no
    savepoint round trips). The same person (names and birth date) already booked
    through another contact is refused; a reference drawn twice in 2^40 is drawn again."""
    for attempt in range(2):
        appointments = _appointments_new(series=series, person=person, slots=slots)
        notification = _notification(
            series=series, kind=Notification.Kind.BOOKING_CONFIRMED, appointments=appointments
        )
        remembered = (
            IdempotencyKey(
                contact=series.contact, key=key, request_hash=request_hash, series=series
            )
            if key is not None
            else None
        )
        if is_postgresql():
            written = course_write(
                person=person,
                series=series,
                appointments=appointments,
                notification=notification,
                key=remembered,
            )
        else:
            # The foreign keys are set again once the rows they name are written.
            if person.pk is None:
                row_insert(person)
            series.person = person
            written = row_insert(series, unless_conflict=True)
            if written:
                for appointment in appointments:
                    appointment.series, appointment.person = series, person
                rows_insert(appointments)
                row_insert(notification)
                if remembered is not None:
                    remembered.series = series
                    row_insert(remembered)
        if written:
            return series, appointments
        if Series.objects.filter(person_key=person.match_key, status=Series.Status.ACTIVE).exists():
            # Said without confirming that this person is booked: only the contact
            # that booked may learn it (the generic words, and the hold given back
            # by booking_confirm, make asking again and again pointless).
            raise AlreadyBooked(
                gettext(
                    "Ce rendez-vous ne peut pas être pris pour cette personne avec ce "
                    "téléphone ou cet e-mail. Si elle a déjà un rendez-vous, gérez-le avec "
                    "le téléphone ou l'e-mail qui l'a pris (« Gérer un rendez-vous »), ou "
                    "appelez le centre d'appel."
                )
            )
        if attempt:
            raise IntegrityError(f"series reference drawn twice: {series.reference}")
        series.reference = tokens.reference_new()
    raise AssertionError("unreachable")


@refusals_counted("move")
@unit_of_work
def booking_move(
    *,
    series_id: int,
    dose_number: int,
    slot_id: int,
    dose2_slot_id: int | None = None,
    from_slot_id: int | None = None,
    override: Override | None = None,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Move one dose to another slot, taking the new place and giving back the old one in
    one transaction. Moving dose 1 keeps dose 2 when it still fits (same site, inside the
    interval) and otherwise moves it too, to `dose2_slot_id` or the best free option.
    A move by a member of staff (`actor`) is in the audit log.

    `from_slot_id` is the slot the person saw the dose on when they confirmed: the same
    move asked again once done (a double click, a retry) answers it without moving or
    notifying twice (invariant 7), and a dose moved meanwhile by someone else is refused."""
    now = now or timezone.now()
    series = _series_lock(series_id=series_id)
    course = _course_appointments(series)
    booking_move_decide(
        series=series, appointments=course, dose_number=dose_number, now=now
    ).enforce()
    appointments = active_by_dose(appointments=course)
    moved = appointments[dose_number]
    if from_slot_id is not None and moved.slot_id != from_slot_id:
        if moved.slot_id == slot_id:
            return _result(series)
        raise InvalidInput(
            gettext("Ce rendez-vous a changé entre-temps : vérifiez-le avant de le déplacer.")
        )
    if slot_id == moved.slot_id:
        raise InvalidInput(gettext("Le rendez-vous est déjà sur ce créneau."))
    changes = SlotChanges()
    if dose_number == 1:
        _dose1_moved(
            series=series,
            moved=moved,
            dose2=appointments.get(2),
            slot_id=slot_id,
            dose2_slot_id=dose2_slot_id,
            override=override,
            now=now,
            changes=changes,
        )
    else:
        _dose2_moved(
            series=series,
            moved=moved,
            course=course,
            slot_id=slot_id,
            now=now,
            changes=changes,
        )
    changes.apply()
    _notify(series=series, kind=Notification.Kind.BOOKING_MOVED)
    _staff_record(
        actor=actor,
        series=series,
        summary=gettext("Dose %(dose)s déplacée par téléphone") % {"dose": dose_number},
    )
    return _result(series)


def _dose1_moved(
    *,
    series: Series,
    moved: Appointment,
    dose2: Appointment | None,
    slot_id: int,
    dose2_slot_id: int | None,
    override: Override | None,
    now: datetime,
    changes: SlotChanges,
) -> None:
    """Invariant 6: the person must be eligible at the new slot, under the rules or an override.

    The new place is taken before the old one is given back (invariant 1); dose 2 follows
    (invariant 3)."""
    new_slot = slot_take(
        slot_id=slot_id, now=now, changes=changes, dose_number=1, vaccine_id=series.vaccine.pk
    )
    if new_slot is None:
        raise _move_refusal(slot_id=slot_id, now=now)
    if (
        override is None
        and series.override_reason
        and series.override_by_id is None
        and new_slot.site.department_id == series.site.department_id
    ):
        # A standing override no member of staff gave (a campaign's invitation, for the
        # department it covers) goes with the course when it moves within that department.
        override = Override(by=None, reason=series.override_reason)
    rule, recorded_override = _eligibility(
        person=series.person, slot=new_slot, override=override, now=now
    )
    slot_release(slot_id=moved.slot_id, changes=changes)
    Appointment.objects.filter(pk=moved.pk).update(slot=new_slot)
    _dose2_followed(
        dose2=dose2,
        dose1_slot=new_slot,
        vaccine=series.vaccine,
        dose2_slot_id=dose2_slot_id,
        now=now,
        changes=changes,
    )
    _series_bump(
        series, site=new_slot.site, eligibility_rule=rule, **_override_fields(recorded_override)
    )


def _dose2_followed(
    *,
    dose2: Appointment | None,
    dose1_slot: Slot,
    vaccine: Vaccine,
    dose2_slot_id: int | None,
    now: datetime,
    changes: SlotChanges,
) -> None:
    """Invariant 3: dose 2 stays if it fits dose 1's new site and interval, or moves with it.

    It moves to `dose2_slot_id`, or else to the best free option; with none, the move is refused."""
    if dose2 is None or (
        dose2_slot_id in (None, dose2.slot_id)
        and dose2_stays(vaccine=vaccine, dose1_slot=dose1_slot, dose2_slot=dose2.slot)
    ):
        return
    window = _dose2_conditions(
        vaccine=vaccine, site_id=dose1_slot.site_id, dose1_date=dose1_slot.date
    )
    candidates = (
        [dose2_slot_id]
        if dose2_slot_id
        else [option.pk for option in dose2_options(slot=dose1_slot, now=now)]
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
        raise _dose2_refusal(vaccine=vaccine, dose1_slot=dose1_slot, now=now)
    slot_release(slot_id=dose2.slot_id, changes=changes)
    Appointment.objects.filter(pk=dose2.pk).update(slot_id=taken)


def _dose2_moved(
    *,
    series: Series,
    moved: Appointment,
    course: list[Appointment],
    slot_id: int,
    now: datetime,
    changes: SlotChanges,
) -> None:
    """Invariant 3: dose 2 moves only at the course's site, inside the interval after dose 1.

    Dose 1 is the one to come, the one given, or the one given elsewhere
    (booking_move_decide refused a course without any); the new place is taken before
    the old one is given back (invariant 1)."""
    dose1 = dose1_get(appointments=course, statuses=DOSE1_FOR_MOVE)
    dose1_date = dose1_day(series=series, appointments=course, statuses=DOSE1_FOR_MOVE)
    window = _dose2_conditions(
        vaccine=series.vaccine, site_id=series.site_id, dose1_date=dose1_date
    )
    if slot_take(slot_id=slot_id, now=now, changes=changes, **window) is None:
        raise _dose2_refusal(
            vaccine=series.vaccine, dose1_slot=dose1.slot if dose1 else None, now=now
        )
    slot_release(slot_id=moved.slot_id, changes=changes)
    Appointment.objects.filter(pk=moved.pk).update(slot_id=slot_id)
    _series_bump(series)


def _move_refusal(*, slot_id: int, now: datetime) -> Exception:
    slot = Slot.objects.filter(pk=slot_id).first()
    if slot is None:
        return NotFound(gettext("Créneau introuvable : %(id)s.") % {"id": slot_id})
    if slot.start <= now:
        return SlotUnavailable(gettext("Ce créneau est déjà passé."), reason="past")
    if slot.dose_number != 1:
        return InvalidInput(gettext("Ce créneau n'est pas un créneau de première dose."))
    return _slot_refusal(slot_id=slot_id, now=now)
