"""The day at a site: people checked in as they arrive, doses given and recorded, and a
dose's record corrected (lot, time) or withdrawn when it was recorded by mistake.

Each step is one conditional update on the appointment's status, limited to the site the
staff member works at, so two people at two desks cannot record the same dose twice. Each
is a staff action: one unit of work with its audit event (invariant 8). A correction never
erases what was recorded: it keeps a row saying what it was and what it became.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.booking.actions import (
    CHECK_IN_FROM,
    GIVE_FROM,
    administration_record_decide,
    administration_withdraw_decide,
    appointment_check_in_decide,
    appointment_status_refusal,
)
from creneau.booking.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Series
from creneau.booking.services import booking_cancel
from creneau.core.actor import Actor
from creneau.core.crypto import blind_index
from creneau.core.db import unit_of_work
from creneau.core.errors import InvalidInput, LotNotReceived
from creneau.geography.selectors import department_timezone
from creneau.vaccines.selectors import lot_deliveries
from creneau.vaccines.services import stock_give, stock_give_undo, stock_release

from .models import Administration, AdministrationCorrection
from .selectors import noshows_due, site_appointment_get

LOT_MAX_LENGTH = 40
REASON_MAX_LENGTH = AdministrationCorrection._meta.get_field("reason").max_length


def _course_lock(appointment: Appointment) -> None:
    """Lock order: the course before its appointment and the stock, as cancelling and the
    no-shows run take them. A cancellation that read the course's appointments then waits
    for the desk, or the desk for it: a person checked in is never cancelled under them
    (and the other way round, a nurse recording a dose deadlocked with the no-shows)."""
    list(Series.objects.select_for_update().filter(pk=appointment.series_id).values_list("pk"))


def _moved_on(appointment: Appointment) -> InvalidInput:
    """The refusal of a step whose conditional update found the appointment changed since
    it was read (another desk was quicker): it names the status the row has now."""
    appointment.refresh_from_db(fields=["status"])
    return InvalidInput(appointment_status_refusal(appointment=appointment).reason)


@unit_of_work
def appointment_check_in(
    *, actor: Actor, appointment_id: int, site_id: int, now: datetime | None = None
) -> Appointment:
    """The person is here: booked → arrived, on the appointment's own day only."""
    now = now or timezone.now()
    appointment = site_appointment_get(appointment_id=appointment_id, site_id=site_id)
    appointment_check_in_decide(appointment=appointment, now=now).enforce()
    _course_lock(appointment)
    arrived = Appointment.objects.filter(pk=appointment.pk, status__in=CHECK_IN_FROM).update(
        status=Appointment.Status.ARRIVED, updated_at=now
    )
    if not arrived:
        raise _moved_on(appointment)
    appointment.status = Appointment.Status.ARRIVED
    audit_record(
        actor=actor,
        action="change",
        obj=appointment,
        site=appointment.slot.site,
        summary=gettext("Arrivée enregistrée"),
    )
    return appointment


def _lot_clean(lot: str) -> str:
    lot = lot.strip()
    if not lot or len(lot) > LOT_MAX_LENGTH or not lot.isprintable():
        raise InvalidInput(
            gettext("Indiquez le numéro de lot (au plus %(max)s caractères).")
            % {"max": LOT_MAX_LENGTH},
            field="lot",
        )
    return lot


def _lot_check(*, lot: str, appointment: Appointment, on: datetime, lent: bool) -> bool:
    """A lot the site received must be of the vaccine given and not expired. A lot it has
    no delivery of may be doses lent by a neighbouring site, or a typing mistake that
    would stay in the person's record: it is taken only when the desk confirmed it was
    lent (`lent`). True when the lot is such a lent one."""
    site, vaccine = appointment.slot.site, appointment.slot.vaccine
    deliveries = lot_deliveries(site_id=site.pk, lot=lot)
    if not deliveries:
        if not lent:
            raise LotNotReceived(
                gettext(
                    "Lot %(lot)s non reçu sur ce lieu : prêté par un autre lieu ? Vérifiez "
                    "le numéro, ou confirmez que ce lot a été prêté."
                )
                % {"lot": lot},
                field="lot",
            )
        return True
    of_vaccine = [delivery for delivery in deliveries if delivery.vaccine_id == vaccine.pk]
    if not of_vaccine:
        raise InvalidInput(
            gettext("Le lot %(lot)s est un lot de %(other)s, pas de %(vaccine)s.")
            % {"lot": lot, "other": deliveries[0].vaccine.name, "vaccine": vaccine.name},
            field="lot",
        )
    day = on.astimezone(department_timezone(department_code=site.department_id)).date()
    if all(d.expires_on is not None and d.expires_on < day for d in of_vaccine):
        expired = max(d.expires_on for d in of_vaccine)
        raise InvalidInput(
            gettext(
                "Le lot %(lot)s a dépassé sa date de péremption (%(date)s) : ne l'injectez pas."
            )
            % {"lot": lot, "date": expired.strftime("%d/%m/%Y")},
            field="lot",
        )
    return False


@unit_of_work
def administration_record(
    *,
    actor: Actor,
    appointment_id: int,
    site_id: int,
    lot: str,
    lot_lent: bool = False,
    given_at: datetime | None = None,
    now: datetime | None = None,
) -> Administration:
    """The dose was given: the appointment is fulfilled, the dose moves from committed to
    given in the site's ledger, and a course whose doses are all given is completed.
    `lot_lent`: the desk confirmed that a lot the site never received was lent to it."""
    now = now or timezone.now()
    given_at = given_at or now
    lot = _lot_clean(lot)
    if given_at > now:
        raise InvalidInput(gettext("L'heure de l'injection est dans le futur."), field="given_at")
    appointment = site_appointment_get(appointment_id=appointment_id, site_id=site_id)
    administration_record_decide(appointment=appointment, given_at=given_at).enforce()
    lent = _lot_check(lot=lot, appointment=appointment, on=given_at, lent=lot_lent)
    _course_lock(appointment)
    # One conditional update per status it may come from: the one that changes the row
    # says which, and that is where a withdrawal of this record takes the appointment back.
    from_status = next(
        (
            status
            for status in GIVE_FROM
            if Appointment.objects.filter(pk=appointment.pk, status=status).update(
                status=Appointment.Status.FULFILLED, updated_at=now
            )
        ),
        None,
    )
    if from_status is None:
        raise _moved_on(appointment)
    vaccine = appointment.slot.vaccine
    stock_give(site_id=site_id, vaccine_id=vaccine.pk)
    administration = Administration.objects.create(
        appointment=appointment,
        vaccine=vaccine,
        lot=lot,
        lot_lent=lent,
        given_at=given_at,
        given_by=actor.user,
        from_status=from_status,
    )
    still_to_give = Appointment.objects.filter(
        series_id=OuterRef("pk"), status__in=ACTIVE_APPOINTMENT_STATUSES
    )
    Series.objects.filter(pk=appointment.series_id, status=Series.Status.ACTIVE).exclude(
        Exists(still_to_give)
    ).update(status=Series.Status.COMPLETED, version=F("version") + 1)
    audit_record(
        actor=actor,
        action="create",
        obj=administration,
        site=appointment.slot.site,
        summary=(
            gettext("Dose administrée, lot %(lot)s prêté par un autre lieu")
            if lent
            else gettext("Dose administrée, lot %(lot)s")
        )
        % {"lot": lot},
    )
    return administration


def _reason_clean(reason: str) -> str:
    """Why a record is corrected: required, one line, kept with the correction."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > REASON_MAX_LENGTH or not reason.isprintable():
        raise InvalidInput(
            gettext("Indiquez le motif de la correction (au plus %(max)s caractères).")
            % {"max": REASON_MAX_LENGTH},
            field="reason",
        )
    return reason


def _given_locked(*, appointment_id: int, site_id: int) -> tuple[Appointment, Administration]:
    """The appointment and its standing dose record, read once its course is locked (the
    lock order of the day's work): a dose given, another correction or the no-shows run on
    the same course wait for this one, so the record read is the one changed."""
    appointment = site_appointment_get(appointment_id=appointment_id, site_id=site_id)
    _course_lock(appointment)
    administration = Administration.objects.filter(
        appointment_id=appointment.pk, withdrawn_at__isnull=True
    ).first()
    if administration is None:
        raise InvalidInput(gettext("Aucune dose n'est enregistrée pour ce rendez-vous."))
    return appointment, administration


def _local(moment: datetime, appointment: Appointment) -> datetime:
    return moment.astimezone(
        department_timezone(department_code=appointment.slot.site.department_id)
    )


@unit_of_work
def administration_correct_lot(
    *,
    actor: Actor,
    appointment_id: int,
    site_id: int,
    lot: str,
    reason: str,
    lot_lent: bool = False,
    now: datetime | None = None,
) -> AdministrationCorrection:
    """The lot recorded was wrong: the record takes the right one, checked as a dose given
    then would have been (of this vaccine, not expired that day, lent only if confirmed),
    and the correction keeps the one it replaced."""
    now = now or timezone.now()
    lot, reason = _lot_clean(lot), _reason_clean(reason)
    appointment, administration = _given_locked(appointment_id=appointment_id, site_id=site_id)
    before = administration.lot
    if lot == before:
        raise InvalidInput(
            gettext("Le lot enregistré est déjà %(lot)s.") % {"lot": lot}, field="lot"
        )
    lent = _lot_check(lot=lot, appointment=appointment, on=administration.given_at, lent=lot_lent)
    Administration.objects.filter(pk=administration.pk).update(lot=lot, lot_lent=lent)
    return _correction_record(
        actor=actor,
        appointment=appointment,
        administration=administration,
        kind=AdministrationCorrection.Kind.LOT,
        reason=reason,
        now=now,
        summary=gettext("Lot corrigé : %(before)s → %(after)s") % {"before": before, "after": lot},
        before={"lot": before, "lot_lent": administration.lot_lent},
        after={"lot": lot, "lot_lent": lent},
        lot_before=before,
        lot_after=lot,
    )


@unit_of_work
def administration_correct_time(
    *,
    actor: Actor,
    appointment_id: int,
    site_id: int,
    given_at: datetime,
    reason: str,
    now: datetime | None = None,
) -> AdministrationCorrection:
    """The injection time recorded was wrong: the record takes the right one, on the
    appointment's day and not in the future; the correction keeps the one it replaced."""
    now = now or timezone.now()
    reason = _reason_clean(reason)
    if given_at > now:
        raise InvalidInput(gettext("L'heure de l'injection est dans le futur."), field="given_at")
    appointment, administration = _given_locked(appointment_id=appointment_id, site_id=site_id)
    if _local(given_at, appointment).date() != appointment.slot.date:
        raise InvalidInput(
            gettext("L'injection a eu lieu le jour du rendez-vous, le %(date)s.")
            % {"date": appointment.slot.date.strftime("%d/%m/%Y")},
            field="given_at",
        )
    before = administration.given_at
    if given_at == before:
        raise InvalidInput(gettext("C'est déjà l'heure enregistrée."), field="given_at")
    Administration.objects.filter(pk=administration.pk).update(given_at=given_at)
    return _correction_record(
        actor=actor,
        appointment=appointment,
        administration=administration,
        kind=AdministrationCorrection.Kind.TIME,
        reason=reason,
        now=now,
        summary=gettext("Heure de l'injection corrigée : %(before)s → %(after)s")
        % {
            "before": _local(before, appointment).strftime("%H:%M"),
            "after": _local(given_at, appointment).strftime("%H:%M"),
        },
        before={"given_at": before.isoformat()},
        after={"given_at": given_at.isoformat()},
        given_at_before=before,
        given_at_after=given_at,
    )


@unit_of_work
def administration_withdraw(
    *, actor: Actor, appointment_id: int, site_id: int, reason: str, now: datetime | None = None
) -> AdministrationCorrection:
    """The dose was recorded by mistake (no injection, or the wrong person): the record
    stays, withdrawn, with who, when and why; the appointment goes back to where it was when
    the dose was recorded (arrived or booked); the dose goes back from given to committed,
    promised again to this person; and a course that record had completed is active again.
    Everything after follows the usual rules: the dose given for real, or a no-show."""
    now = now or timezone.now()
    reason = _reason_clean(reason)
    appointment, administration = _given_locked(appointment_id=appointment_id, site_id=site_id)
    # Read under the course's lock: what the decision looks at cannot change meanwhile.
    series = Series.objects.select_related("vaccine").get(pk=appointment.series_id)
    appointments = list(series.appointments.all())
    appointment.status = next(a.status for a in appointments if a.pk == appointment.pk)
    administration_withdraw_decide(
        series=series, appointments=appointments, appointment=appointment
    ).enforce()
    if series.status == Series.Status.COMPLETED:
        try:
            with transaction.atomic():
                Series.objects.filter(pk=series.pk).update(
                    status=Series.Status.ACTIVE, version=F("version") + 1
                )
        except IntegrityError:
            # one_active_series_per_person: the person has booked a new course since.
            raise InvalidInput(
                gettext(
                    "Cette personne a un autre parcours en cours depuis : cette dose ne peut "
                    "pas être retirée ici."
                )
            ) from None
    Appointment.objects.filter(pk=appointment.pk, status=Appointment.Status.FULFILLED).update(
        status=administration.from_status, updated_at=now
    )
    Administration.objects.filter(pk=administration.pk).update(withdrawn_at=now)
    stock_give_undo(site_id=site_id, vaccine_id=administration.vaccine_id)
    return _correction_record(
        actor=actor,
        appointment=appointment,
        administration=administration,
        kind=AdministrationCorrection.Kind.WITHDRAWN,
        reason=reason,
        now=now,
        summary=gettext("Dose retirée, enregistrée par erreur (lot %(lot)s)")
        % {"lot": administration.lot},
        before={
            "appointment": Appointment.Status.FULFILLED,
            "series": series.status,
            "stock": "given",
        },
        after={
            "appointment": administration.from_status,
            "series": Series.Status.ACTIVE,
            "stock": "committed",
        },
        recorded={"lot": administration.lot, "given_at": administration.given_at.isoformat()},
    )


def _correction_record(
    *,
    actor: Actor,
    appointment: Appointment,
    administration: Administration,
    kind: str,
    reason: str,
    now: datetime,
    summary: str,
    before: dict,
    after: dict,
    recorded: dict | None = None,
    **fields: object,
) -> AdministrationCorrection:
    """Invariant 8: a correction keeps what it replaced, in its own row and in the audit
    log, in the correction's transaction."""
    correction = AdministrationCorrection.objects.create(
        administration=administration,
        kind=kind,
        reason=reason,
        corrected_by=actor.user,
        corrected_at=now,
        **fields,
    )
    audit_record(
        actor=actor,
        action="change",
        obj=administration,
        site=appointment.slot.site,
        summary=summary,
        details={
            "correction": kind,
            "before": before,
            "after": after,
            **(recorded or {}),
            "reason": reason,
        },
    )
    return correction


@dataclass(frozen=True)
class NoShows:
    marked: list[Appointment]
    # Courses ended because their first dose was missed (the person may book again).
    series_ended: int


@unit_of_work
def noshows_mark(*, actor: Actor, site_id: int, day: date, now: datetime | None = None) -> NoShows:
    """At the end of the day: the booked appointments whose slot has ended become no-shows.

    A missed first dose ends the course: its dose 2 is cancelled (never a dose 2 without
    a dose 1, invariant 3), its place freed, the person told and free to book again, and
    the doses the first-dose place promised go back to the stock. A missed later dose
    keeps the course open and its dose promised, so the person can be given a new date.
    People checked in but without a dose recorded are left for the staff to settle.
    """
    now = now or timezone.now()
    reason = gettext("Absence au rendez-vous de la dose 1.")
    due = list(
        noshows_due(site_id=site_id, day=day, now=now)
        .select_related("slot__session")
        .order_by("series_id", "dose_number")
    )
    # Lock order: every course before any appointment, slot or stock row. Locked one by
    # one in the loop, a course came after the stock the previous one gave doses back
    # to, and a nurse recording a dose (course, appointment, then stock) deadlocked.
    courses = {
        series.pk: series
        for series in Series.objects.select_for_update()
        .filter(pk__in={appointment.series_id for appointment in due})
        .order_by("pk")
    }
    marked, ended = [], 0
    for appointment in due:
        series = courses[appointment.series_id]
        if not Appointment.objects.filter(
            pk=appointment.pk, status=Appointment.Status.BOOKED
        ).update(status=Appointment.Status.NOSHOW, updated_at=now):
            continue  # checked in meanwhile
        appointment.status = Appointment.Status.NOSHOW
        marked.append(appointment)
        if appointment.dose_number != 1 or series.status != Series.Status.ACTIVE:
            continue
        booking_cancel(series_id=series.pk, reason=reason, now=now)
        session = appointment.slot.session
        stock_release(
            site_id=session.site_id, vaccine_id=session.vaccine_id, doses=session.doses_per_place
        )
        ended += 1
    if marked:
        audit_record(
            actor=actor,
            action="change",
            object_type="sites.site.day",
            object_id=f"{site_id}:{day.isoformat()}",
            site=marked[0].slot.site,
            summary=gettext("%(count)s absence(s) enregistrée(s)") % {"count": len(marked)},
            details={"appointments": [a.pk for a in marked]},
        )
    return NoShows(marked=marked, series_ended=ended)


def subject_reference(*, match_key: str) -> str:
    """The pseudonymous reference a dose given keeps once detached from the booking
    identity: a keyed hash of the person's match key (folded names and birth date). The
    same person gets the same reference, so their doses are found again when they identify
    themselves; without the key, nobody can tell whose they are. Keyed by the blind-index
    key, which lives as long as the data (SECRET_KEY may be changed at any time)."""
    return blind_index(match_key, purpose="care.subject")


def administrations_detach(*, person_ids: list[int], now: datetime) -> int:
    """Keep the doses given to these persons for the medical record, detached from their
    appointments (which are about to be erased): each record keeps its product, lot, time,
    who gave it and its corrections, and gains the site, the dose number and the
    pseudonymous `subject`. Runs in the caller's transaction, under its locks. Returns how
    many records it detached."""
    rows = Administration.objects.filter(appointment__person_id__in=person_ids).values_list(
        "pk",
        "appointment__person__match_key",
        "appointment__slot__site_id",
        "appointment__dose_number",
    )
    detached = 0
    for pk, match_key, site_id, dose_number in rows:
        detached += Administration.objects.filter(pk=pk).update(
            appointment=None,
            site_id=site_id,
            dose_number=dose_number,
            subject=subject_reference(match_key=match_key),
            detached_at=now,
        )
    return detached
