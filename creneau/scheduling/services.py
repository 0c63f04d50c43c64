"""Opening, changing and closing sessions, and the availability read model they keep current.

Lock order, everywhere: session row, then slots (first-dose slots before second-dose
ones, each by id), then stock rows, then read-model rows (by site, vaccine, dose, date).
Every multi-row change takes its locks in that order, so two of them can wait for each
other but never deadlock.
"""

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Case, F, Max, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import model_from_row, unit_of_work
from creneau.core.errors import CapacityBelowBooked, InvalidInput, SessionNotOpen
from creneau.geography.selectors import department_timezone
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import stock_commit, stock_release

from .models import DayAvailability, Session, Slot
from .sql import TAKEN_FIELDS, read_model_apply, slot_take_row

MAX_LINES = 100
SLOT_MINUTES_RANGE = (5, 120)
HORIZON_DAYS = 366


def doses_per_place(*, vaccine: Vaccine, dose_number: int) -> int:
    """What one place promises in the stock ledger.

    A first-dose place of a two-dose vaccine promises both doses, so that the second
    dose of everyone booked is covered before anyone is booked. A later-dose place
    promises nothing more: its dose was promised by the first-dose place it follows.
    """
    return vaccine.doses_in_series if dose_number == 1 else 0


def _free_slots_of_row():
    """The free slots of the read-model row being updated (a correlated subquery)."""
    return (
        Slot.objects.filter(
            site_id=OuterRef("site_id"),
            vaccine_id=OuterRef("vaccine_id"),
            dose_number=OuterRef("dose_number"),
            date=OuterRef("date"),
            booked__lt=F("capacity"),
        )
        .order_by()
        .values("date")
    )


def _free_starts(free_slots) -> dict:
    return {
        "first_free_start": Subquery(free_slots.annotate(first=Min("start")).values("first")),
        "last_free_start": Subquery(free_slots.annotate(last=Max("start")).values("last")),
    }


def availability_refresh(
    *, site_id: int, vaccine_id: int, dose_number: int, days: Collection[date]
) -> None:
    """Recompute rows of the read model from their slots, in one statement.

    The rows are locked (in date order) before the recount: a concurrent writer waits,
    then its recount, a new statement, sees what this one committed, so the last writer
    always leaves the truth. A row whose free places grow is marked `opened_at` (the
    alerts read it).
    """
    key = dict(site_id=site_id, vaccine_id=vaccine_id, dose_number=dose_number)
    DayAvailability.objects.bulk_create(
        [DayAvailability(**key, date=day) for day in days], ignore_conflicts=True
    )
    rows = DayAvailability.objects.filter(**key, date__in=days)
    list(rows.select_for_update().order_by("date").values_list("pk"))
    free_slots = _free_slots_of_row()
    free = Coalesce(
        Subquery(free_slots.annotate(free=Sum(F("capacity") - F("booked"))).values("free")), 0
    )
    rows.update(
        free=free,
        opened_at=Case(When(Q(free__lt=free), then=Value(timezone.now())), default=F("opened_at")),
        **_free_starts(free_slots),
    )


class SlotChanges:
    """What a booking transaction did to places, applied to the ledgers at its end.

    Taking and releasing places touches slot rows as it goes; the stock released and the
    read-model deltas are gathered here and written last, each in key order, so that
    every transaction takes its locks in the documented order (slots, stock, read model).
    """

    def __init__(self) -> None:
        self._free_delta: dict[tuple[int, int, int, date], int] = defaultdict(int)
        self._recount: set[tuple[int, int, int, date]] = set()
        self._stock_release: dict[tuple[int, int], int] = defaultdict(int)

    def record(self, slot: Slot, *, free_delta: int) -> None:
        """`slot` carries its counts after the change."""
        key = (slot.site_id, slot.vaccine_id, slot.dose_number, slot.date)
        self._free_delta[key] += free_delta
        free_after = slot.capacity - slot.booked
        # The day's first and last free starts can only move when a slot fills or frees up.
        if free_after == 0 or free_after - free_delta == 0:
            self._recount.add(key)

    def recount(self, slot: Slot) -> None:
        """The day of `slot` recounted at the end, its delta already written."""
        self._recount.add((slot.site_id, slot.vaccine_id, slot.dose_number, slot.date))

    def untouched(self) -> bool:
        """Nothing recorded yet: a statement that writes the read model itself (the
        booking hot path's, booking.sql) may then come first without breaking the order."""
        return not (self._free_delta or self._recount or self._stock_release)

    def release_doses(self, *, site_id: int, vaccine_id: int, doses: int) -> None:
        self._stock_release[(site_id, vaccine_id)] += doses

    def apply(self) -> None:
        for (site_id, vaccine_id), doses in sorted(self._stock_release.items()):
            if doses:
                stock_release(site_id=site_id, vaccine_id=vaccine_id, doses=doses)
        for key in sorted(self._free_delta.keys() | self._recount):
            read_model_apply(key=key, delta=self._free_delta[key], recount=key in self._recount)
        self._free_delta.clear()
        self._recount.clear()
        self._stock_release.clear()


def slot_take(
    *, slot_id: int, now: datetime, changes: SlotChanges, **conditions: object
) -> Slot | None:
    """Take one place in a slot that has not begun, or None: the database decides (invariant 1).

    `conditions` narrow which slot qualifies (dose number, site, vaccine, dates: the
    names of scheduling.sql.TAKE_CONDITIONS). The statement is scheduling.sql's.
    """
    row = slot_take_row(slot_id=slot_id, now=now, **conditions)
    if row is None:
        return None
    slot = model_from_row(Slot, TAKEN_FIELDS, row)
    changes.record(slot, free_delta=-1)
    return slot


def slot_release(*, slot_id: int, changes: SlotChanges) -> None:
    """Give back one place. In a closed session the place goes too, with its doses."""
    Slot.objects.filter(pk=slot_id).update(booked=F("booked") - 1)
    slot = Slot.objects.select_related("session").get(pk=slot_id)
    if slot.session.status == Session.Status.CLOSED:
        Slot.objects.filter(pk=slot_id).update(capacity=F("capacity") - 1)
        changes.release_doses(
            site_id=slot.site_id, vaccine_id=slot.vaccine_id, doses=slot.session.doses_per_place
        )
    else:
        changes.record(slot, free_delta=1)


def slots_release(*, slot_ids: list[int], changes: SlotChanges) -> None:
    """Give back many places at once, one per occurrence of a slot id (a mass
    cancellation): one update per group of slots losing as many places, in id order."""
    counts = Counter(slot_ids)
    by_count: dict[int, list[int]] = defaultdict(list)
    for slot_id in sorted(counts):
        by_count[counts[slot_id]].append(slot_id)
    for count, ids in sorted(by_count.items()):
        Slot.objects.filter(pk__in=ids).update(booked=F("booked") - count)
    closed: dict[int, list[int]] = defaultdict(list)
    for slot in Slot.objects.select_related("session").filter(pk__in=counts).order_by("pk"):
        count = counts[slot.pk]
        if slot.session.status == Session.Status.CLOSED:
            closed[count].append(slot.pk)
            changes.release_doses(
                site_id=slot.site_id,
                vaccine_id=slot.vaccine_id,
                doses=slot.session.doses_per_place * count,
            )
        else:
            changes.record(slot, free_delta=count)
    for count, ids in sorted(closed.items()):
        Slot.objects.filter(pk__in=ids).update(capacity=F("capacity") - count)


def _site_timezone(site: Site) -> ZoneInfo:
    return department_timezone(department_code=site.department_id)


def _slot_windows(
    *, day: date, start_time: time, end_time: time, slot_minutes: int, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The session's slots, stepped in UTC so that a change of daylight-saving time
    neither makes a slot end before it starts nor stretches one over the repeated hour."""
    step = timedelta(minutes=slot_minutes)
    cursor = datetime.combine(day, start_time, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day, end_time, tzinfo=tz).astimezone(UTC)
    windows = []
    while cursor + step <= end:
        windows.append((cursor, cursor + step))
        cursor += step
    return windows


def _validate_session_shape(*, lines: int, slot_minutes: int) -> None:
    if not 1 <= lines <= MAX_LINES:
        raise InvalidInput(gettext("Le nombre de lignes va de 1 à %(max)d.") % {"max": MAX_LINES})
    low, high = SLOT_MINUTES_RANGE
    if not low <= slot_minutes <= high:
        raise InvalidInput(
            gettext("La durée d'un créneau va de %(low)d à %(high)d minutes.")
            % {"low": low, "high": high}
        )


@unit_of_work
def session_open(
    *,
    actor: Actor | None = None,
    site: Site,
    vaccine: Vaccine,
    day: date,
    start_time: time,
    end_time: time,
    lines: int,
    slot_minutes: int = 10,
    dose_number: int = 1,
    now: datetime | None = None,
) -> Session:
    """Open a session and its slots, promising the doses they need or refusing (invariant 2).
    `actor`: the member of staff opening it (recorded); None for loaders and tests."""
    [session] = _sessions_open(
        actor=actor,
        site=site,
        vaccine=vaccine,
        days=[day],
        start_time=start_time,
        end_time=end_time,
        lines=lines,
        slot_minutes=slot_minutes,
        dose_number=dose_number,
        now=now,
    )
    return session


@unit_of_work
def sessions_open_weekly(
    *,
    actor: Actor | None = None,
    site: Site,
    vaccine: Vaccine,
    date_from: date,
    date_to: date,
    weekdays: set[int],
    start_time: time,
    end_time: time,
    lines: int,
    slot_minutes: int = 10,
    dose_number: int = 1,
    now: datetime | None = None,
) -> list[Session]:
    """Open the same session on the chosen weekdays (0 = Monday) of a date range.

    All or nothing: the doses of every session are promised in one conditional update,
    and the whole range is refused when the stock does not cover it.
    """
    if not 0 <= (date_to - date_from).days <= HORIZON_DAYS:
        raise InvalidInput(
            gettext("La période va d'un jour à %(days)d jours, dans l'ordre.")
            % {"days": HORIZON_DAYS}
        )
    days = [
        date_from + timedelta(days=offset)
        for offset in range((date_to - date_from).days + 1)
        if (date_from + timedelta(days=offset)).weekday() in weekdays
    ]
    if not days:
        raise InvalidInput(gettext("Aucun jour de la période ne correspond aux jours choisis."))
    return _sessions_open(
        actor=actor,
        site=site,
        vaccine=vaccine,
        days=days,
        start_time=start_time,
        end_time=end_time,
        lines=lines,
        slot_minutes=slot_minutes,
        dose_number=dose_number,
        now=now,
    )


def _sessions_open(
    *,
    actor: Actor | None,
    site: Site,
    vaccine: Vaccine,
    days: list[date],
    start_time: time,
    end_time: time,
    lines: int,
    slot_minutes: int,
    dose_number: int,
    now: datetime | None,
) -> list[Session]:
    _validate_session_shape(lines=lines, slot_minutes=slot_minutes)
    if site.status == Site.Status.CLOSED:
        raise InvalidInput(gettext("Ce lieu est fermé : il ne peut pas ouvrir de session."))
    if not vaccine.active:
        raise InvalidInput(
            gettext("Le vaccin %(vaccine)s n'est plus proposé.") % {"vaccine": vaccine.name}
        )
    if not 1 <= dose_number <= vaccine.doses_in_series:
        raise InvalidInput(
            gettext("%(vaccine)s se donne en %(doses)d dose(s) : pas de dose %(dose)d.")
            % {"vaccine": vaccine.name, "doses": vaccine.doses_in_series, "dose": dose_number}
        )
    if start_time >= end_time:
        raise InvalidInput(gettext("La session doit finir après son début."))
    tz = _site_timezone(site)
    today = (now or timezone.now()).astimezone(tz).date()
    if min(days) < today:
        raise InvalidInput(gettext("On ne peut pas ouvrir une session dans le passé."))
    if max(days) > today + timedelta(days=HORIZON_DAYS):
        raise InvalidInput(gettext("On ne peut pas ouvrir une session à plus d'un an."))
    windows = {
        day: _slot_windows(
            day=day, start_time=start_time, end_time=end_time, slot_minutes=slot_minutes, tz=tz
        )
        for day in days
    }
    if not all(windows.values()):
        raise InvalidInput(gettext("La session est plus courte qu'un créneau."))

    per_place = doses_per_place(vaccine=vaccine, dose_number=dose_number)
    places = sum(len(day_windows) for day_windows in windows.values()) * lines
    stock_commit(site_id=site.pk, vaccine_id=vaccine.pk, doses=places * per_place)
    sessions = Session.objects.bulk_create(
        Session(
            site=site,
            vaccine=vaccine,
            dose_number=dose_number,
            date=day,
            start_time=start_time,
            end_time=end_time,
            lines=lines,
            slot_minutes=slot_minutes,
            doses_per_place=per_place,
        )
        for day in days
    )
    Slot.objects.bulk_create(
        (
            Slot(
                session=session,
                site=site,
                vaccine=vaccine,
                dose_number=dose_number,
                date=session.date,
                start=start,
                end=end,
                capacity=lines,
            )
            for session in sessions
            for start, end in windows[session.date]
        ),
        batch_size=2000,
    )
    availability_refresh(site_id=site.pk, vaccine_id=vaccine.pk, dose_number=dose_number, days=days)
    if actor is not None:
        audit_record(
            actor=actor,
            action="create",
            object_type="scheduling.session",
            object_id=",".join(str(session.pk) for session in sessions),
            site=site,
            summary=gettext("%(count)s session(s) ouverte(s)") % {"count": len(sessions)},
        )
    return sessions


def _availability_refresh_session(session: Session) -> None:
    availability_refresh(
        site_id=session.site_id,
        vaccine_id=session.vaccine_id,
        dose_number=session.dose_number,
        days=[session.date],
    )


def _lock_open_session(session_id: int) -> Session:
    session = Session.objects.select_for_update().filter(pk=session_id).first()
    if session is None or session.status != Session.Status.OPEN:
        raise SessionNotOpen(gettext("Cette session n'est plus ouverte."))
    return session


def _lock_slots(session: Session) -> list[Slot]:
    # NO KEY UPDATE, as a cancellation locks them: a booking inserting its appointment
    # takes KEY SHARE on the slot (its foreign key's check), which FOR UPDATE would make
    # wait for this whole change; no slot's key changes here.
    return list(Slot.objects.select_for_update(no_key=True).filter(session=session).order_by("pk"))


@unit_of_work
def session_change_lines(
    *, actor: Actor, session_id: int, lines: int, now: datetime | None = None
) -> Session:
    """Change the number of lines: more promises more doses, fewer never drops a booking."""
    session = _lock_open_session(session_id)
    _validate_session_shape(lines=lines, slot_minutes=session.slot_minutes)
    slots = _lock_slots(session)
    if slots and slots[-1].start <= (now or timezone.now()):
        raise SessionNotOpen(
            gettext("Cette session a déjà eu lieu : on ne change plus ses lignes.")
        )
    overbooked = [slot for slot in slots if slot.booked > lines]
    if overbooked:
        raise CapacityBelowBooked(
            gettext(
                "%(count)d créneau(x) ont déjà plus de %(lines)d rendez-vous : "
                "annulez ou déplacez-les d'abord."
            )
            % {"count": len(overbooked), "lines": lines},
            slots=[slot.pk for slot in overbooked],
        )
    delta = sum(lines - slot.capacity for slot in slots) * session.doses_per_place
    if delta > 0:
        stock_commit(site_id=session.site_id, vaccine_id=session.vaccine_id, doses=delta)
    else:
        stock_release(site_id=session.site_id, vaccine_id=session.vaccine_id, doses=-delta)
    Slot.objects.filter(session=session).update(capacity=lines)
    Session.objects.filter(pk=session.pk).update(lines=lines)
    session.lines = lines
    _availability_refresh_session(session)
    _session_record(
        actor=actor, session=session, summary=gettext("Lignes : %(lines)s") % {"lines": lines}
    )
    return session


def _session_record(*, actor: Actor, session: Session, summary: str) -> None:
    audit_record(
        actor=actor,
        action="change",
        obj=session,
        site=Site.objects.select_related("department").get(pk=session.site_id),
        summary=summary,
    )


@unit_of_work
def session_close(*, actor: Actor | None, session_id: int) -> int:
    """Stop taking bookings: free places disappear and their doses return to the stock.

    Appointments already booked stay; cancelling them is a separate, notified action.
    Returns the number of doses released. No actor: the system closing what has ended,
    or a cancellation closing its sessions (it records its own event).
    """
    session = _lock_open_session(session_id)
    slots = _lock_slots(session)
    released = sum(slot.capacity - slot.booked for slot in slots) * session.doses_per_place
    Slot.objects.filter(session=session).update(capacity=F("booked"))
    Session.objects.filter(pk=session.pk).update(status=Session.Status.CLOSED)
    stock_release(site_id=session.site_id, vaccine_id=session.vaccine_id, doses=released)
    _availability_refresh_session(session)
    if actor is not None:
        _session_record(
            actor=actor, session=session, summary=gettext("Session fermée aux réservations")
        )
    return released


def sessions_close_elapsed(*, now: datetime | None = None) -> int:
    """Close the open sessions whose every slot has ended, returning their unused doses.

    Run it regularly (a cron line or the task worker): until then the doses of places
    that passed unbooked stay promised, which is safe but wastes stock.
    Returns the number of doses released.
    """
    now = now or timezone.now()
    elapsed = (
        Session.objects.filter(status=Session.Status.OPEN, date__lte=now.date() + timedelta(1))
        .exclude(slots__end__gt=now)
        .values_list("pk", flat=True)
    )
    released = 0
    for session_id in list(elapsed):
        try:
            released += session_close(actor=None, session_id=session_id)
        except SessionNotOpen:
            continue  # closed meanwhile by someone else
    return released
