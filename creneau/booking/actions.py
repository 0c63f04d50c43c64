"""What can be done with a course now, and by whom: one rule per change to a course, read
by the pages to offer only what is allowed and by the services to refuse the rest in the
same words.

Each `<service>_decide` looks only at the rows it is given. A service evaluates it on the
rows it has locked or read, and still lets the database decide the change itself (its
conditional updates); a page evaluates it on the rows it shows.
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.utils.translation import gettext

from creneau.core.errors import InvalidInput
from creneau.geography.selectors import department_timezone

from .models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Series

# A dose 2 moves inside the interval counted from a dose 1 still to come or given...
DOSE1_FOR_MOVE = (*ACTIVE_APPOINTMENT_STATUSES, Appointment.Status.FULFILLED)
# ...and is booked anew only once dose 1 is given or being given.
DOSE1_FOR_REBOOK = (Appointment.Status.ARRIVED, Appointment.Status.FULFILLED)
# The statuses the care services' conditional updates start from.
CHECK_IN_FROM = (Appointment.Status.BOOKED,)
GIVE_FROM = ACTIVE_APPOINTMENT_STATUSES


class CourseActor(enum.Enum):
    """Who acts on a course."""

    PERSON = "person"  # through the portal, with the booking's link or a code
    AGENT = "agent"  # a call-centre agent, for a caller
    SITE_STAFF = "site_staff"  # the back office's list of the day


@dataclass(frozen=True)
class Decision:
    """Allowed, or refused with the sentence that says why: the one the service raises."""

    reason: str = ""

    def __bool__(self) -> bool:
        return not self.reason

    def enforce(self) -> None:
        if self.reason:
            raise InvalidInput(self.reason)


ALLOWED = Decision()


@dataclass(frozen=True)
class AppointmentActions:
    appointment: Appointment
    # The dose's move when this is the appointment a move would take; otherwise refused.
    move: Decision
    check_in: Decision
    give: Decision


@dataclass(frozen=True)
class CourseActions:
    series: Series
    appointments: tuple[AppointmentActions, ...]
    # By dose number, as booking_move(dose_number=…) would decide.
    move: dict[int, Decision]
    cancel: Decision
    # Only the dose-2 appointment, once dose 1 is given (booking_dose2_cancel).
    dose2_cancel: Decision
    dose2_rebook: Decision

    @property
    def movable(self) -> list[int]:
        return [dose for dose, decision in self.move.items() if decision]


def active_by_dose(*, appointments: Iterable[Appointment]) -> dict[int, Appointment]:
    """The appointments still to be given, by dose number (at most one each: a constraint)."""
    return {a.dose_number: a for a in appointments if a.status in ACTIVE_APPOINTMENT_STATUSES}


def dose1_get(
    *, appointments: Iterable[Appointment], statuses: Sequence[str]
) -> Appointment | None:
    return next((a for a in appointments if a.dose_number == 1 and a.status in statuses), None)


def dose1_day(
    *, series: Series, appointments: Iterable[Appointment], statuses: Sequence[str]
) -> date | None:
    """The day a course's dose 2 counts its interval from: its dose 1 given elsewhere (as
    declared when it was booked), or its dose-1 appointment here in one of `statuses`."""
    if series.dose1_elsewhere_on is not None:
        return series.dose1_elsewhere_on
    dose1 = dose1_get(appointments=appointments, statuses=statuses)
    return dose1.slot.date if dose1 is not None else None


def _dose1_missing() -> Decision:
    return Decision(
        gettext("La première dose de ce parcours n'a pas eu lieu : prenez un nouveau rendez-vous.")
    )


def booking_move_decide(
    *, series: Series, appointments: Sequence[Appointment], dose_number: int, now: datetime
) -> Decision:
    """A dose moves while its course is active, it is booked and its slot has not begun;
    a dose 2 only with a dose 1 to count its interval from."""
    if series.status != Series.Status.ACTIVE:
        return Decision(gettext("Ce rendez-vous est annulé ou terminé : il ne se modifie plus."))
    moved = active_by_dose(appointments=appointments).get(dose_number)
    if moved is None:
        return Decision(
            gettext("Ce rendez-vous n'a pas de dose %(dose)d à déplacer.") % {"dose": dose_number}
        )
    if moved.status != Appointment.Status.BOOKED or moved.slot.start <= now:
        return Decision(gettext("Ce rendez-vous a déjà commencé : il ne se déplace plus."))
    if (
        dose_number != 1
        and dose1_day(series=series, appointments=appointments, statuses=DOSE1_FOR_MOVE) is None
    ):
        return _dose1_missing()
    return ALLOWED


def booking_cancel_decide(
    *, series: Series, appointments: Sequence[Appointment], now: datetime
) -> Decision:
    """A course is cancelled while active, before any of its appointments has begun and
    before the person is checked in: from then on the site records what happens."""
    if series.status == Series.Status.CANCELLED:
        return Decision(gettext("Ce rendez-vous est déjà annulé."))
    if series.status != Series.Status.ACTIVE:
        return Decision(gettext("Ce parcours est terminé : il n'y a plus rien à annuler."))
    if any(a.status == Appointment.Status.BOOKED and a.slot.start <= now for a in appointments):
        return Decision(
            gettext(
                "Un rendez-vous de ce parcours a déjà commencé : "
                "adressez-vous au lieu de vaccination."
            )
        )
    if any(a.status == Appointment.Status.ARRIVED for a in appointments):
        return Decision(gettext("La personne est déjà sur place : le lieu enregistre la suite."))
    return ALLOWED


def booking_dose2_cancel_decide(
    *, series: Series, appointments: Sequence[Appointment], now: datetime
) -> Decision:
    """Only the dose-2 appointment is cancelled once dose 1 is given (here, or elsewhere
    for a course booked for its dose 2 alone), by the rules of a cancellation; never
    while dose 1 is still to come or being given, which would leave a dose 1 without its
    dose 2 (invariant 3): then the whole course is cancelled, or dose 2 moved."""
    refused = booking_cancel_decide(series=series, appointments=appointments, now=now)
    if not refused:
        return refused
    given = (Appointment.Status.FULFILLED,)
    if dose1_day(series=series, appointments=appointments, statuses=given) is None:
        return Decision(
            gettext(
                "La première dose n'est pas encore faite : la seconde ne s'annule pas seule. "
                "Annulez le rendez-vous entier, ou déplacez la seconde dose."
            )
        )
    if 2 not in active_by_dose(appointments=appointments):
        return Decision(gettext("Ce parcours n'a pas de rendez-vous de 2e dose à annuler."))
    return ALLOWED


def booking_dose2_rebook_decide(*, series: Series, appointments: Sequence[Appointment]) -> Decision:
    """A new dose-2 date is for an active two-dose course whose dose 1 is given (or being
    given, or was given elsewhere) and whose dose 2 has no appointment left (cancelled
    with its session, missed)."""
    if series.status != Series.Status.ACTIVE:
        return Decision(gettext("Ce rendez-vous est annulé ou terminé : il ne se modifie plus."))
    if 2 in active_by_dose(appointments=appointments):
        return Decision(gettext("Ce parcours a déjà un rendez-vous de 2e dose : déplacez-le."))
    if (
        series.vaccine.doses_in_series < 2
        or dose1_day(series=series, appointments=appointments, statuses=DOSE1_FOR_REBOOK) is None
    ):
        return _dose1_missing()
    return ALLOWED


def rebook_override_carries(*, series: Series, vaccine_id: int) -> bool:
    """A cancelled course booked under a staff override is rebooked under it again, but
    only with the same product: the override was given for that one, and another product
    is open to the person only if the rules admit them to it."""
    return series.override_by_id is not None and vaccine_id == series.vaccine_id


def appointment_status_refusal(*, appointment: Appointment) -> Decision:
    """Why an appointment in this status cannot take the step asked."""
    return Decision(
        gettext("Ce rendez-vous est déjà « %(status)s ».")
        % {"status": appointment.get_status_display()}
    )


def _on_its_day_from(
    appointment: Appointment, moment: datetime, statuses: Sequence[str]
) -> Decision:
    """Allowed when `moment` falls on the appointment's day where its site is (select the
    slot's site with the appointment) and the appointment is in one of `statuses`."""
    tz = department_timezone(department_code=appointment.slot.site.department_id)
    if appointment.slot.date != moment.astimezone(tz).date():
        return Decision(gettext("Ce rendez-vous n'est pas aujourd'hui."))
    if appointment.status not in statuses:
        return appointment_status_refusal(appointment=appointment)
    return ALLOWED


def appointment_check_in_decide(*, appointment: Appointment, now: datetime) -> Decision:
    """Checked in on the appointment's own day, once, from booked."""
    return _on_its_day_from(appointment, now, CHECK_IN_FROM)


def administration_record_decide(*, appointment: Appointment, given_at: datetime) -> Decision:
    """A dose is recorded on the appointment's day, once, whether checked in or not."""
    return _on_its_day_from(appointment, given_at, GIVE_FROM)


def administration_withdraw_decide(
    *, series: Series, appointments: Sequence[Appointment], appointment: Appointment
) -> Decision:
    """A dose recorded by mistake is withdrawn from a course still standing (active, or
    completed by that very record), last dose first, and never so as to leave a dose 1
    without its dose 2 (invariant 3): the next dose must still have its appointment."""
    if series.status not in (Series.Status.ACTIVE, Series.Status.COMPLETED):
        return Decision(gettext("Ce parcours est annulé : sa dose ne se retire plus."))
    if appointment.status != Appointment.Status.FULFILLED:
        return appointment_status_refusal(appointment=appointment)
    later = [a for a in appointments if a.dose_number > appointment.dose_number]
    if any(a.status == Appointment.Status.FULFILLED for a in later):
        return Decision(
            gettext("Une dose suivante de ce parcours est enregistrée : retirez-la d'abord.")
        )
    following = appointment.dose_number + 1
    if following <= series.vaccine.doses_in_series and following not in active_by_dose(
        appointments=later
    ):
        return Decision(
            gettext(
                "La dose %(following)d de ce parcours n'a plus de rendez-vous : donnez-lui "
                "d'abord une nouvelle date, puis retirez la dose %(dose)d."
            )
            % {"following": following, "dose": appointment.dose_number}
        )
    return ALLOWED
