"""What every change to a course shares: the person's details and an override as a
service receives them, the locked series and its version, the eligibility decision, the
second-dose window, the message to the contact and the answer."""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.utils import formats, translation
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import row_insert
from creneau.core.errors import Dose2Unavailable, InvalidInput
from creneau.eligibility.selectors import Candidate, eligibility_decide, eligibility_require
from creneau.geography.selectors import department_timezone
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret
from creneau.outreach.services import notification_build
from creneau.scheduling.models import Slot
from creneau.vaccines.models import Vaccine

from .. import tokens
from ..messages import MANAGEMENT_LINK
from ..models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Contact, Person, Series
from ..selectors import dose2_options, dose2_window


@dataclass(frozen=True)
class PersonData:
    given_name: str
    family_name: str
    birth_date: date
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """A staff or call-centre decision to book someone the rules would refuse; or, with no
    one behind it (`by` None), a standing one another app gives, such as a campaign's
    invitation (its reason says which)."""

    by: AbstractBaseUser | None
    reason: str


@dataclass(frozen=True)
class BookingResult:
    series: Series
    management_token: str
    # False when the person already had an active series, which is answered instead.
    created: bool = True
    appointments: list[Appointment] = field(default_factory=list)
    # False when the change asked for was already made (a course cancelled twice): nothing
    # was written or sent, and the pages say so.
    changed: bool = True


def _result(
    series: Series,
    *,
    created: bool = True,
    appointments: list[Appointment] | None = None,
    changed: bool = True,
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
        changed=changed,
    )


def _notify(
    *,
    series: Series,
    kind: str,
    context: dict | None = None,
    appointments: list[Appointment] | None = None,
    event: str | None = None,
) -> None:
    """Write the message of a change; `appointments` (with their slots) saves a query.
    `event` names what the message is about when it is not the series' change (a
    reminder: booking/reminders.py)."""
    row_insert(
        _notification(
            series=series, kind=kind, context=context, appointments=appointments, event=event
        )
    )


def _notification(
    *,
    series: Series,
    kind: str,
    context: dict | None = None,
    appointments: list[Appointment] | None = None,
    event: str | None = None,
) -> Notification:
    """The message of a change (_notify's), not yet written."""
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
        # A course begun elsewhere: the person brings the proof of that first dose.
        elsewhere = (
            {"dose1_elsewhere_on": formats.date_format(series.dose1_elsewhere_on, "j F Y")}
            if series.dose1_elsewhere_on
            else {}
        )
    return notification_build(
        channel=contact.channel,
        # A letter is addressed to the person, at the address the agent took down.
        to=f"{series.person.given_name} {series.person.family_name.upper()}\n{contact.address}"
        if contact.channel == Contact.Channel.LETTER
        else contact.address,
        kind=kind,
        event=event or f"series:{series.reference}:v{series.version}:{kind}",
        context={
            "reference": tokens.reference_display(series.reference),
            # A letter has no link: the person calls with the reference.
            **(
                {}
                if contact.channel == Contact.Channel.LETTER
                else {"manage_url": Secret(MANAGEMENT_LINK, series.reference)}
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
            **elsewhere,
            **(context or {}),
        },
        language=contact.language,
    )


def _eligibility(
    *, person: PersonData | Person, slot: Slot, override: Override | None, now: datetime
) -> tuple[object, Override | None]:
    """The admitting rule for the dose `slot` gives (a first dose, or a second whose first
    was given elsewhere), or the override that stands in for it (recorded on the series).
    The slot's start counts for a rule that opens only places starting soon."""
    candidate = Candidate(birth_date=person.birth_date, categories=frozenset(person.categories))
    facts = dict(
        candidate=candidate,
        vaccine=slot.vaccine,
        dose_number=slot.dose_number,
        site=slot.site,
        on=slot.date,
        at=slot.start,
        now=now,
    )
    if override is None:
        return eligibility_require(**facts), None
    if not override.reason.strip():
        raise InvalidInput(
            gettext("Une dérogation doit donner sa raison."), field="override_reason"
        )
    decision = eligibility_decide(**facts)
    return decision.rule, (None if decision.eligible else override)


def _override_fields(override: Override | None) -> dict:
    if override is None:
        return {}
    return {"override_reason": override.reason.strip()[:300], "override_by": override.by}


def _dose2_conditions(*, vaccine, site_id: int, dose1_date: date) -> dict:
    first, last = dose2_window(vaccine=vaccine, dose1_date=dose1_date)
    return dict(
        dose_number=2, site_id=site_id, vaccine_id=vaccine.pk, date__gte=first, date__lte=last
    )


def _dose2_refusal(
    *, vaccine: Vaccine, now: datetime, dose1_slot: Slot | None = None
) -> Dose2Unavailable:
    """`dose1_slot`: the first dose's slot here, whose free dose-2 options the refusal
    lists; None for a dose 1 given elsewhere."""
    options = dose2_options(slot=dose1_slot, now=now) if dose1_slot is not None else []
    return Dose2Unavailable(
        gettext(
            "Ce créneau de seconde dose n'est plus libre ou ne convient pas (même lieu, "
            "de %(min)d à %(max)d jours après la première). Choisissez parmi les créneaux "
            "proposés."
        )
        % {"min": vaccine.interval_min_days, "max": vaccine.interval_max_days},
        dose2_options=[option.pk for option in options],
    )


def _series_locked():
    """Series rows locked (theirs only, not the joined rows), with what messages need."""
    return Series.objects.select_for_update(of=("self",)).select_related(
        "person", "contact", "site", "vaccine"
    )


def _series_lock(*, series_id: int) -> Series:
    return _series_locked().get(pk=series_id)


def _course_appointments(series: Series) -> list[Appointment]:
    """A locked course's appointments, every status, with their slots: what its rules
    (booking.actions) read."""
    return list(series.appointments.select_related("slot", "slot__vaccine"))


def _series_bump(series: Series, **fields: object) -> None:
    series.version += 1
    for name, value in fields.items():
        setattr(series, name, value)
    Series.objects.filter(pk=series.pk).update(version=F("version") + 1, **fields)


def _staff_record(
    *, actor: Actor | None, series: Series, summary: str, details: dict | None = None
) -> None:
    """Invariant 8: a change a member of staff made to a course is in the audit log, in
    the change's transaction. Without an actor it is the person's own change (portal,
    API) or the system's: nothing to record."""
    if actor is not None:
        audit_record(
            actor=actor,
            action="change",
            obj=series,
            site=series.site,
            summary=summary,
            details=details,
        )
