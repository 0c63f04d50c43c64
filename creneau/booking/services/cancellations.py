"""Cancelling: one course, or a session, a day or a site in one action, and rebooking
from the link in the cancellation message."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, NotFound
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.services import (
    SlotChanges,
    session_close,
    slot_release,
    slot_take,
    slots_release,
)
from creneau.sites.services import site_close

from ..actions import (
    DOSE1_FOR_REBOOK,
    Decision,
    active_by_dose,
    booking_cancel_decide,
    booking_dose2_cancel_decide,
    booking_dose2_rebook_decide,
    dose1_day,
    dose1_get,
    rebook_override_carries,
)
from ..messages import REBOOK_LINK
from ..models import Appointment, Cancellation, CancellationItem, Contact, Hold, Series
from ..selectors import DOSE2_ALONE_DOSES, cancellation_sessions
from .bookings import booking_confirm
from .course import (
    BookingResult,
    Override,
    PersonData,
    _course_appointments,
    _dose2_conditions,
    _dose2_refusal,
    _notify,
    _result,
    _series_bump,
    _series_lock,
    _series_locked,
    _staff_record,
)
from .holds import _hold_release, hold_create


def _doses_left_promised(series: Series) -> int:
    """Doses still promised to a course whose first dose was given: its first-dose place
    promised the whole course (a course booked for its dose 2 alone, the one dose its
    booking promised: DOSE2_ALONE_DOSES), and a course that ends now will not use the rest."""
    given = list(
        series.appointments.filter(status=Appointment.Status.FULFILLED).select_related(
            "slot__session"
        )
    )
    if series.dose1_elsewhere_on is not None:
        return DOSE2_ALONE_DOSES - len(given)
    first = next((a for a in given if a.dose_number == 1), None)
    return first.slot.session.doses_per_place - len(given) if first else 0


def _series_cancel(
    *, series: Series, course: list[Appointment], reason: str, now: datetime, changes: SlotChanges
) -> int:
    """Cancel every appointment still to come of a locked series (`course`: all its
    appointments), giving back its places and, when its first dose was given, the doses it
    no longer needs. Returns how many appointments it cancelled."""
    active = active_by_dose(appointments=course)
    appointments = sorted(active.values(), key=lambda a: a.dose_number)
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


@unit_of_work
def booking_cancel(
    *, series_id: int, reason: str = "", actor: Actor | None = None, now: datetime | None = None
) -> BookingResult:
    """Cancel a booking's appointments still to come; a cancelled one answers as it is.
    A cancellation by a member of staff (`actor`) is in the audit log."""
    return _course_cancel(
        series_id=series_id,
        reason=reason,
        actor=actor,
        now=now,
        decide=booking_cancel_decide,
        summary=gettext("Annulé par téléphone"),
    )


@unit_of_work
def booking_dose2_cancel(
    *, series_id: int, reason: str = "", actor: Actor | None = None, now: datetime | None = None
) -> BookingResult:
    """Cancel only the dose-2 appointment of a course whose dose 1 was given (the person
    will not come back for it here): its place goes back to its slot and the dose it held
    back to stock, the course ends with its dose 1 recorded, the contact is told. Refused
    while dose 1 is still to come (invariant 3); a cancelled course answers as it is."""
    return _course_cancel(
        series_id=series_id,
        reason=reason,
        actor=actor,
        now=now,
        decide=booking_dose2_cancel_decide,
        summary=gettext("2e dose annulée par téléphone"),
    )


def _course_cancel(
    *,
    series_id: int,
    reason: str,
    actor: Actor | None,
    now: datetime | None,
    decide: Callable[..., Decision],
    summary: str,
) -> BookingResult:
    """A course locked, its cancellation allowed by `decide` (booking.actions), then its
    places and doses given back, its one message (invariant 5: after every change, in the
    transaction) and, for staff, its audit event."""
    now = now or timezone.now()
    series = _series_locked().get(pk=series_id)
    if series.status == Series.Status.CANCELLED:
        return _result(series, changed=False)
    course = _course_appointments(series)
    decide(series=series, appointments=course, now=now).enforce()
    changes = SlotChanges()
    _series_cancel(series=series, course=course, reason=reason, now=now, changes=changes)
    changes.apply()
    appointments = list(series.appointments.select_related("slot").order_by("dose_number", "id"))
    dose1_kept = (
        dose1_day(series=series, appointments=course, statuses=(Appointment.Status.FULFILLED,))
        is not None
    )
    _notify(
        series=series,
        kind=Notification.Kind.BOOKING_CANCELLED,
        context={"reason": reason, "dose2_only": dose1_kept, "dose1_kept": dose1_kept},
        appointments=appointments,
    )
    _staff_record(
        actor=actor,
        series=series,
        summary=summary,
        details={"reason": reason} if reason else None,
    )
    return _result(series, appointments=appointments)


@unit_of_work
def session_cancel(
    *, actor: Actor, session_id: int, reason: str, now: datetime | None = None
) -> int:
    """Cancel one session (see `cancellation_create`); returns how many courses it touched."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    cancellation = cancellation_create(
        actor=actor,
        site_id=session.site_id,
        scope=Cancellation.Scope.SESSION,
        session_id=session_id,
        reason=reason,
        now=now,
    )
    return cancellation.courses


@unit_of_work
def cancellation_create(
    *,
    actor: Actor,
    site_id: int,
    scope: str,
    reason: str,
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
    reason = _cancellation_reason(reason=reason)
    sessions = _sessions_locked(
        site_id=site_id, scope=scope, session_id=session_id, day=day, now=now
    )
    if scope == Cancellation.Scope.SITE:
        with contextlib.suppress(NotFound):  # already closed to the public
            site_close(actor=None, site_id=site_id)
    session_ids = [session.pk for session in sessions]
    changes = SlotChanges()
    _holds_ended(session_ids=session_ids, changes=changes)
    _sessions_closed(sessions=sessions)
    cancellation = Cancellation.objects.create(
        site_id=site_id,
        scope=scope,
        session_id=session_id if scope == Cancellation.Scope.SESSION else None,
        day=day if scope == Cancellation.Scope.DAY else None,
        reason=reason,
        by=actor.user,
        sessions=len(sessions),
    )
    # In bulk: a day of a large centre is a thousand courses. Series rows first (locked
    # in id order), then the places, then stock and read model, then the outbox.
    courses = _courses_split(session_ids=session_ids, now=now)
    cancelled = _appointments_cancelled(
        courses=courses, session_ids=session_ids, now=now, changes=changes
    )
    _series_ended(courses=courses, reason=reason)
    items = _items_written(cancellation=cancellation, courses=courses)
    changes.apply()
    _contacts_told(items=items, reason=reason)
    Cancellation.objects.filter(pk=cancellation.pk).update(
        courses=len(items), appointments=cancelled, notifications=len(items)
    )
    cancellation.refresh_from_db()
    audit_record(
        actor=actor,
        action="change",
        obj=cancellation,
        site=cancellation.site,
        summary=gettext("Annulation (%(scope)s) : %(count)s parcours prévenus")
        % {"scope": cancellation.get_scope_display(), "count": cancellation.courses},
        details={"reason": cancellation.reason},
    )
    return cancellation


def _cancellation_reason(*, reason: str) -> str:
    """Invariant 5: every message of the cancellation says why, so there is a reason that fits."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            gettext("Donnez la raison de l'annulation : elle est dite aux personnes."),
            field="reason",
        )
    if len(reason) > 300:
        raise InvalidInput(gettext("La raison tient en 300 caractères au plus."), field="reason")
    return reason


def _sessions_locked(
    *, site_id: int, scope: str, session_id: int | None, day: date | None, now: datetime
) -> list[Session]:
    """Lock order: the courses booked in the sessions, then the sessions, each in id order;
    a second cancellation of them waits here."""
    chosen = cancellation_sessions(
        site_id=site_id, scope=scope, session_id=session_id, day=day, now=now
    )
    # The courses before the sessions and their places. A move, a cancellation or a
    # no-show locks its course, then gives back its place: had we locked the places first,
    # each of them would be a deadlock with us (retried, but a day's cancellation crossing
    # a few phone calls could outlast the retries and answer a 500). Only courses booked
    # after this read are locked later (_courses_split), once their bookings have
    # committed. (NO KEY UPDATE, as for the slots.)
    list(
        Series.objects.select_for_update(no_key=True)
        .filter(
            pk__in=Appointment.objects.filter(
                slot__session__in=chosen, slot__end__gt=now, status=Appointment.Status.BOOKED
            ).values("series_id")
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sessions = list(chosen.select_for_update().order_by("pk"))
    if scope == Cancellation.Scope.SESSION and not sessions:
        raise NotFound(gettext("Session introuvable : %(id)s.") % {"id": session_id})
    return sessions


def _holds_ended(*, session_ids: list[int], changes: SlotChanges) -> None:
    """Lock order: the places, then the holds on them, then the read model (invariant 1)."""
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
    for hold in Hold.objects.filter(
        Q(slot__session_id__in=session_ids) | Q(dose2_slot__session_id__in=session_ids)
    ).order_by("pk"):
        _hold_release(hold=hold, changes=changes)
    changes.apply()


def _sessions_closed(*, sessions: list[Session]) -> None:
    """Invariant 2: an open session closing gives the doses of its free places back to stock."""
    for session in sessions:
        if session.status == Session.Status.OPEN:
            session_close(actor=None, session_id=session.pk)


@dataclass(frozen=True)
class _Courses:
    """The active courses a cancellation touches, locked, in id order."""

    locked: list[Series]
    # First dose given or being given: these lose only their second dose.
    under_way: set[int]

    def whole(self) -> list[int]:
        return [series.pk for series in self.locked if series.pk not in self.under_way]

    def dose2_only(self) -> list[int]:
        return [series.pk for series in self.locked if series.pk in self.under_way]


def _courses_split(*, session_ids: list[int], now: datetime) -> _Courses:
    """Invariant 3: a course still to start goes whole, one under way keeps its first dose.

    Lock order: the series rows, in id order, before their places."""
    # Read after the holds are gone: a booking that claimed one first has committed.
    series_ids = list(
        Appointment.objects.filter(
            slot__session_id__in=session_ids, slot__end__gt=now, status=Appointment.Status.BOOKED
        )
        .values_list("series_id", flat=True)
        .distinct()
    )
    # Courses whose first dose was given (or is being given): they keep going. One whose
    # first dose passed with nothing recorded goes whole: never a dose 1 without its dose 2.
    under_way = set(
        Appointment.objects.filter(
            series_id__in=series_ids,
            dose_number=1,
            status__in=(Appointment.Status.FULFILLED, Appointment.Status.ARRIVED),
        ).values_list("series_id", flat=True)
    ) | set(
        # Begun elsewhere: their dose 1 was given before they booked their dose 2 here.
        Series.objects.filter(pk__in=series_ids, dose1_elsewhere_on__isnull=False).values_list(
            "pk", flat=True
        )
    )
    locked = list(
        _series_locked().filter(pk__in=series_ids, status=Series.Status.ACTIVE).order_by("pk")
    )
    return _Courses(locked=locked, under_way=under_way)


def _appointments_cancelled(
    *, courses: _Courses, session_ids: list[int], now: datetime, changes: SlotChanges
) -> int:
    """Invariant 1: each cancelled appointment gives its place back once, slots in id order.

    A whole course loses both doses, one under way its dose 2 in these sessions (invariant
    3). Returns how many it cancelled."""
    cancelled = list(
        Appointment.objects.filter(
            Q(series_id__in=courses.whole())
            | Q(series_id__in=courses.dose2_only(), slot__session_id__in=session_ids),
            status=Appointment.Status.BOOKED,
        )
        .order_by("slot_id")
        .values_list("pk", "slot_id")
    )
    slots_release(slot_ids=[slot_id for _, slot_id in cancelled], changes=changes)
    Appointment.objects.filter(pk__in=[pk for pk, _ in cancelled]).update(
        status=Appointment.Status.CANCELLED, updated_at=now
    )
    return len(cancelled)


def _series_ended(*, courses: _Courses, reason: str) -> None:
    """Invariant 3: a whole course ends; one under way stays open, its dose 2 still promised.

    Both take a new version, so each message is a new event (invariant 5); the locked rows
    are brought level with the database for the messages."""
    Series.objects.filter(pk__in=courses.whole()).update(
        status=Series.Status.CANCELLED, cancel_reason=reason, version=F("version") + 1
    )
    Series.objects.filter(pk__in=courses.dose2_only()).update(version=F("version") + 1)
    for series in courses.locked:
        series.version += 1
        if series.pk not in courses.under_way:
            series.status, series.cancel_reason = Series.Status.CANCELLED, reason


def _items_written(*, cancellation: Cancellation, courses: _Courses) -> list[CancellationItem]:
    """Invariant 7: one item a course, which its rebooking link claims once.

    Dose 2 for a course under way, dose 1 (the whole course again) otherwise."""
    items = [
        CancellationItem(
            cancellation=cancellation,
            series=series,
            dose_number=2 if series.pk in courses.under_way else 1,
        )
        for series in courses.locked
    ]
    CancellationItem.objects.bulk_create(items)
    return items


def _contacts_told(*, items: list[CancellationItem], reason: str) -> None:
    """Invariant 5: one message a course, in this transaction, saying why, with a link to rebook."""
    for item in items:
        _notify(
            series=item.series,
            kind=Notification.Kind.BOOKING_CANCELLED,
            appointments=[],  # none is left to come in either case
            context={
                "reason": reason,
                **(
                    {}
                    if item.series.contact.channel == Contact.Channel.LETTER
                    else {"rebook_url": Secret(REBOOK_LINK, item.pk)}
                ),
                "dose2_only": item.dose_number == 2,
            },
        )


@unit_of_work
def booking_dose2_rebook(
    *, series_id: int, slot_id: int, actor: Actor | None = None, now: datetime | None = None
) -> BookingResult:
    """A new second-dose appointment for a course whose first dose was given and whose
    second has none (cancelled with its session, or missed): same site, inside the
    interval. The dose it needs is still promised by the first-dose place. One booked by
    a member of staff (`actor`) is in the audit log."""
    now = now or timezone.now()
    series = _series_lock(series_id=series_id)
    course = _course_appointments(series)
    booking_dose2_rebook_decide(series=series, appointments=course).enforce()
    dose1 = dose1_get(appointments=course, statuses=DOSE1_FOR_REBOOK)
    changes = SlotChanges()
    conditions = _dose2_conditions(
        vaccine=series.vaccine,
        site_id=series.site_id,
        dose1_date=dose1_day(series=series, appointments=course, statuses=DOSE1_FOR_REBOOK),
    )
    if slot_take(slot_id=slot_id, now=now, changes=changes, **conditions) is None:
        raise _dose2_refusal(
            vaccine=series.vaccine, dose1_slot=dose1.slot if dose1 else None, now=now
        )
    Appointment.objects.create(series=series, person=series.person, slot_id=slot_id, dose_number=2)
    _series_bump(series)
    changes.apply()
    _notify(series=series, kind=Notification.Kind.BOOKING_CONFIRMED)
    _staff_record(
        actor=actor, series=series, summary=gettext("Nouvelle date de 2e dose par téléphone")
    )
    return _result(series)


@unit_of_work
def booking_rebook(
    *,
    item_id: int,
    slot_id: int,
    dose2_slot_id: int | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """The booking a person confirms from a cancellation message: a new appointment for
    the course the cancellation touched, for the same person and contact, with no new code
    (the signed link is the key).

    A whole course is booked again from `slot_id` (dose 1, and dose 2 with it: at
    `dose2_slot_id`, the one the confirmation showed, or the best free one), with the
    course's product or another one the rules admit the person to; a staff override of
    the first booking carries over with the same product only. A course that only lost
    its dose 2 gets it back at `slot_id`.

    Each item is claimed once by a conditional update, so a double click or a retried
    request answers the booking the first click made.
    """
    now = now or timezone.now()
    claimed = CancellationItem.objects.filter(
        pk=item_id, rebooked_at__isnull=True, series__isnull=False
    ).update(rebooked_at=now)
    item = CancellationItem.objects.select_related(
        "series__person", "series__contact", "series__override_by", "rebooked_series"
    ).get(pk=item_id)
    if item.series is None or (not claimed and item.rebooked_series is None):
        # The course was erased (privacy) since the link was sent.
        raise NotFound(gettext("Ce lien de nouveau rendez-vous n'est pas valable ou a expiré."))
    if not claimed:
        return _result(item.rebooked_series, created=False)
    old = item.series
    if item.dose_number == 2:
        if dose2_slot_id is not None:
            raise InvalidInput(
                gettext("Ce parcours n'attend que sa 2e dose : un seul créneau se choisit.")
            )
        result = booking_dose2_rebook(series_id=old.pk, slot_id=slot_id, now=now)
    else:
        hold = hold_create(slot_id=slot_id, now=now).hold
        carries = rebook_override_carries(series=old, vaccine_id=hold.slot.vaccine_id)
        result = booking_confirm(
            hold_id=hold.pk,
            contact=old.contact,
            person=PersonData(
                given_name=old.person.given_name,
                family_name=old.person.family_name,
                birth_date=old.person.birth_date,
                categories=tuple(old.person.categories),
            ),
            dose2_slot_id=dose2_slot_id,
            override=Override(by=old.override_by, reason=old.override_reason) if carries else None,
            now=now,
        )
    CancellationItem.objects.filter(pk=item_id).update(rebooked_series=result.series)
    return result
