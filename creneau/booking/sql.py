"""The booking hot path's reads and the hold's consumption, written by hand (issue 15): a
slot with what a hold checks, a contact locked with its idempotency key and persons in one
statement, a live hold consumed and read in one statement. The booking services call them
on every path (portal, API, call centre, campaigns, waiting list): there is no second copy
of a rule. Where SQLite and PostgreSQL need different SQL, both forms stand side by side
here and the tests run on both databases. The writes of places and of the read model are
scheduling.sql's; the inserts are core.db's (the model's own columns and values).
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import connection

from creneau.core.db import (
    columns,
    insert_select_sql,
    inserted,
    is_postgresql,
    model_from_row,
    sql_value,
)
from creneau.outreach.models import Notification
from creneau.scheduling.models import Session, Slot
from creneau.scheduling.sql import READ_MODEL_DELTA, TAKEN_COLUMNS, TAKEN_FIELDS, slot_take_sql
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

from .models import Appointment, Contact, Hold, IdempotencyKey, Person, Series

SESSION_FIELDS = ("id", "status", "doses_per_place")
# What a hold, a booking and its message read of the site (the rest is deferred).
SITE_FIELDS = (
    "id",
    "name",
    "status",
    "publish_at",
    "department",
    "address",
    "postcode",
    "restricted_to",
)
VACCINE_FIELDS = tuple(field.name for field in Vaccine._meta.concrete_fields)
HOLD_FIELDS = tuple(field.name for field in Hold._meta.concrete_fields)
CONTACT_FIELDS = tuple(field.name for field in Contact._meta.concrete_fields)
PERSON_FIELDS = tuple(field.name for field in Person._meta.concrete_fields)

_SLOT_COLUMNS = ", ".join(
    (
        columns(Slot, TAKEN_FIELDS, "s"),
        columns(Session, SESSION_FIELDS, "se"),
        columns(Site, SITE_FIELDS, "si"),
        columns(Vaccine, VACCINE_FIELDS, "v"),
    )
)
_SLOT_JOINS = (
    "JOIN scheduling_session se ON se.id = s.session_id "
    "JOIN sites_site si ON si.id = s.site_id "
    "JOIN vaccines_vaccine v ON v.id = s.vaccine_id"
)
_PARTS = (
    (Slot, TAKEN_FIELDS),
    (Session, SESSION_FIELDS),
    (Site, SITE_FIELDS),
    (Vaccine, VACCINE_FIELDS),
)


def _slot_of(row: tuple) -> Slot:
    """The slot of a row of _SLOT_COLUMNS, with its session, site and vaccine."""
    models = []
    at = 0
    for model, names in _PARTS:
        models.append(model_from_row(model, names, row[at : at + len(names)]))
        at += len(names)
    slot, session, site, vaccine = models
    slot.session, slot.site, slot.vaccine = session, site, vaccine
    return slot


def slot_for_hold(*, slot_id: int) -> Slot | None:
    """A slot with its session, site and vaccine: what a hold checks before taking it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_SLOT_COLUMNS} FROM scheduling_slot s {_SLOT_JOINS} WHERE s.id = %s",
            [slot_id],
        )
        row = cursor.fetchone()
    return None if row is None else _slot_of(row)


def _hold_key(hold_id: str | UUID):
    field = Hold._meta.pk
    return field.get_db_prep_value(field.to_python(hold_id), connection)


_HOLD_COLUMNS = columns(Hold, HOLD_FIELDS, "h")
_DOSE2_COLUMNS = columns(Slot, TAKEN_FIELDS, "d2")
_HOLD_READ = (
    f"{_SLOT_COLUMNS}, {_DOSE2_COLUMNS} FROM {{hold}} h "
    f"JOIN scheduling_slot s ON s.id = h.slot_id {_SLOT_JOINS} "
    "LEFT JOIN scheduling_slot d2 ON d2.id = h.dose2_slot_id"
)


def hold_consume(*, hold_id: str | UUID, now: datetime) -> Hold | None:
    """Invariant 7: a live hold deleted, once (the delete decides who consumes it), and
    read with its slots, the first one's session, site and vaccine; None when it was no
    longer live or no longer there. Its places become the booking's: `booked` stays.

    PostgreSQL: one statement (the DELETE … RETURNING read by the SELECT that joins its
    slots). SQLite: the read, then the delete (its write transactions run one at a time,
    so nothing comes between them)."""
    key = _hold_key(hold_id)
    live = [key, sql_value(now)]
    with connection.cursor() as cursor:
        if is_postgresql():
            returned = ", ".join(
                connection.ops.quote_name(Hold._meta.get_field(name).column) for name in HOLD_FIELDS
            )
            cursor.execute(
                f"WITH h AS (DELETE FROM booking_hold WHERE id = %s AND expires_at > %s "
                f"RETURNING {returned}) SELECT {_HOLD_COLUMNS}, " + _HOLD_READ.format(hold="h"),
                live,
            )
            row = cursor.fetchone()
        else:
            cursor.execute(
                f"SELECT {_HOLD_COLUMNS}, "
                + _HOLD_READ.format(hold="booking_hold")
                + " WHERE h.id = %s AND h.expires_at > %s",
                live,
            )
            row = cursor.fetchone()
            if row is not None:
                cursor.execute("DELETE FROM booking_hold WHERE id = %s AND expires_at > %s", live)
                if not cursor.rowcount:
                    row = None
    if row is None:
        return None
    hold = model_from_row(Hold, HOLD_FIELDS, row[: len(HOLD_FIELDS)])
    rest = row[len(HOLD_FIELDS) :]
    slot = _slot_of(rest[: -len(TAKEN_FIELDS)])
    hold.slot = slot
    if hold.dose2_slot_id is not None:
        dose2 = model_from_row(Slot, TAKEN_FIELDS, rest[-len(TAKEN_FIELDS) :])
        dose2.site, dose2.vaccine = slot.site, slot.vaccine
        hold.dose2_slot = dose2
    return hold


@dataclass(frozen=True)
class ContactForBooking:
    contact: Contact
    # An idempotency key of this contact already answered (invariant 7).
    key_used: bool
    persons: list[Person]


def contact_for_booking(*, contact_id: int, key: str | None) -> ContactForBooking:
    """Lock order: the contact row first (one booking at a time per contact), then what is
    read under that lock: whether the idempotency key was used, and the contact's persons
    (six at most, or a care home's residents). Two statements: a statement that waited
    for a row lock sees the other tables as they were when it began (PostgreSQL re-reads
    only the locked row), so a twin that committed meanwhile is seen by the second one."""
    lock = " FOR UPDATE" if is_postgresql() else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(Contact, CONTACT_FIELDS, 'c')} FROM booking_contact c "
            f"WHERE c.id = %s{lock}",
            [contact_id],
        )
        row = cursor.fetchone()
        if row is None:
            raise Contact.DoesNotExist(contact_id)
        cursor.execute(
            f"SELECT k.id, {columns(Person, PERSON_FIELDS, 'p')} FROM booking_contact c "
            "LEFT JOIN booking_idempotencykey k ON k.contact_id = c.id AND k.key = %s "
            "LEFT JOIN booking_person p ON p.contact_id = c.id WHERE c.id = %s ORDER BY p.id",
            [key or "", contact_id],
        )
        rows = cursor.fetchall()
    return ContactForBooking(
        contact=model_from_row(Contact, CONTACT_FIELDS, row),
        key_used=key is not None and rows[0][0] is not None,
        persons=[
            model_from_row(Person, PERSON_FIELDS, row[1:]) for row in rows if row[1] is not None
        ],
    )


def contact_verified(*, contact_id: int) -> Contact | None:
    """A verified contact, by id (a contact token's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(Contact, CONTACT_FIELDS, 'c')} FROM booking_contact c "
            "WHERE c.id = %s AND c.verified_at IS NOT NULL",
            [contact_id],
        )
        row = cursor.fetchone()
    return None if row is None else model_from_row(Contact, CONTACT_FIELDS, row)


_LIVE_HOLD_FIELDS = ("id", "slot", "dose2_slot", "client", "address", "created_at")


def holds_live_of(*, client: str, network: str, hold_id: str | None, now: datetime) -> list[Hold]:
    """The live holds of a client or a network, and the hold `hold_id`: one read for the
    limits on live holds (booking.services.holds._room_made), the newest first."""
    where, params = [], []
    for column, value in (
        ("id", hold_id and _hold_key(hold_id)),
        ("client", client),
        ("address", network),
    ):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    if not where:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(Hold, _LIVE_HOLD_FIELDS, 'h')} FROM booking_hold h "
            f"WHERE h.expires_at > %s AND ({' OR '.join(where)}) ORDER BY h.created_at DESC, h.id",
            [sql_value(now), *params],
        )
        rows = cursor.fetchall()
    return [model_from_row(Hold, _LIVE_HOLD_FIELDS, row) for row in rows]


@dataclass(frozen=True)
class PlacesTaken:
    """What hold_places_take did: the first-dose slot taken (None: refused, nothing
    changed), the second-dose slot taken (None: that option was no longer free), and
    whether the hold and the read model's two deltas were written with them."""

    dose1: Slot | None
    dose2: Slot | None
    written: bool


def hold_places_take(*, hold: Hold, now: datetime) -> PlacesTaken:
    """PostgreSQL only: a first-dose hold and its second-dose place in one statement, in
    the lock order (data-modifying CTEs, each one forced after the one it reads): the
    dose-1 place (invariant 1's conditional update, scheduling.sql.slot_take_sql), then
    the dose-2 place `hold.dose2_slot` (the same update), then the hold, then the read
    model's rows of the two days (dose 1's key sorts first). When the second place was
    no longer free, only the first is taken and the caller goes on one statement at a
    time (the SQLite path); when the first was not free, nothing changed."""
    slot, option = hold.slot, hold.dose2_slot
    take, _ = slot_take_sql({"dose_number": 1})
    take2, _ = slot_take_sql({"dose_number": 2})
    at = sql_value(now)
    insert, values = insert_select_sql(hold)
    sql = (
        f"WITH d1 AS ({take}), "
        f"d2 AS ({take2.replace(' RETURNING', ' AND EXISTS (SELECT 1 FROM d1) RETURNING')}), "
        f"h AS ({insert} WHERE EXISTS (SELECT 1 FROM d2) RETURNING id), "
        f"r1 AS ({READ_MODEL_DELTA} AND EXISTS (SELECT 1 FROM h) RETURNING id), "
        f"r2 AS ({READ_MODEL_DELTA} AND EXISTS (SELECT 1 FROM r1) RETURNING id) "
        f"SELECT {', '.join(f'd1.{c}' for c in TAKEN_COLUMNS)}, "
        f"{', '.join(f'd2.{c}' for c in TAKEN_COLUMNS)}, (SELECT COUNT(*) FROM r2) "
        "FROM d1 LEFT JOIN d2 ON TRUE"
    )
    params = [
        slot.pk,
        at,
        1,
        option.pk,
        at,
        2,
        *values,
        -1,
        slot.site_id,
        slot.vaccine_id,
        1,
        sql_value(slot.date),
        -1,
        option.site_id,
        option.vaccine_id,
        2,
        sql_value(option.date),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return PlacesTaken(dose1=None, dose2=None, written=False)
    width = len(TAKEN_FIELDS)
    dose1 = model_from_row(Slot, TAKEN_FIELDS, row[:width])
    dose2 = (
        None if row[width] is None else model_from_row(Slot, TAKEN_FIELDS, row[width : 2 * width])
    )
    if row[-1]:
        inserted(hold, None)
    return PlacesTaken(dose1=dose1, dose2=dose2, written=bool(row[-1]))


def course_write(
    *,
    person: Person,
    series: Series,
    appointments: list[Appointment],
    notification: Notification,
    key: IdempotencyKey | None,
) -> bool:
    """PostgreSQL only: a booked course in one statement (data-modifying CTEs): the
    person when new, the series (ON CONFLICT DO NOTHING: invariant 4's unique constraint
    answers instead of aborting), dose 1 and dose 2 (invariant 3: together), the message
    (invariant 5: with them) and the idempotency key (invariant 7); none of them but the
    person when the series was refused. False then, and the caller decides why."""
    params: list = []
    if person.pk is None:
        sql, values = insert_select_sql(person)
        parts = [f"p AS ({sql} RETURNING id)"]
        params += values
    else:
        parts = ["p AS (SELECT CAST(%s AS bigint) AS id)"]
        params.append(person.pk)
    sql, values = insert_select_sql(series, linked={"person_id": "p.id"}, source="p")
    parts.append(f"s AS ({sql} ON CONFLICT DO NOTHING RETURNING id)")
    params += values
    both = {"person_id": "p.id", "series_id": "s.id"}
    rows = []
    for appointment in appointments:
        sql, values = insert_select_sql(appointment, linked=both, source="p, s")
        rows.append(sql if not rows else sql[sql.index(" SELECT ") :])
        params += values
    parts.append(f"a AS ({' UNION ALL'.join(rows)} RETURNING id)")
    sql, values = insert_select_sql(notification)
    parts.append(f"n AS ({sql} WHERE EXISTS (SELECT 1 FROM s) RETURNING id)")
    params += values
    selected = ["(SELECT id FROM p)", "(SELECT id FROM s)", "(SELECT id FROM n)"]
    if key is not None:
        sql, values = insert_select_sql(key, linked={"series_id": "s.id"}, source="s")
        parts.append(f"k AS ({sql} RETURNING id)")
        params += values
        selected.append("(SELECT id FROM k)")
    selected.append("(SELECT ARRAY_AGG(id ORDER BY id) FROM a)")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(selected)}", params)
        row = cursor.fetchone()
    # The foreign keys set from the rows written (their objects kept: no query later).
    inserted(person, row[0])
    if row[1] is None:
        return False
    series.person = person
    inserted(series, row[1])
    inserted(notification, row[2])
    if key is not None:
        key.series = series
        inserted(key, row[3])
    for appointment, pk in zip(appointments, row[-1], strict=True):
        appointment.person, appointment.series = person, series
        inserted(appointment, pk)
    return True
