"""The statements of the booking hot path on slots and the read model, written by hand
(issue 15): taking a place, the read model's deltas and recounts, the second-dose options
of a first dose. scheduling.services (`slot_take`, `SlotChanges`) and booking's services
call them, on the portal, the API and the staff's paths alike, and bench/rush.py's raw
workload runs the same text: each rule is written here once. Where SQLite and PostgreSQL
need different SQL, both forms stand side by side and the tests run on both databases.

Parameters are the ORM's own forms of values (core.db.sql_value); rows come back as
plain tuples, read into models by core.db.model_from_row where a model is wanted.
"""

from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from creneau.core.db import is_postgresql, sql_value
from creneau.sites.selectors import public_sites_sql
from creneau.vaccines.models import Vaccine

# What a place may be taken on: the conditions of slot_take, as columns.
TAKE_CONDITIONS = {
    "dose_number": "dose_number = %s",
    "vaccine_id": "vaccine_id = %s",
    "site_id": "site_id = %s",
    "date__gte": "date >= %s",
    "date__lte": "date <= %s",
}
# The columns a taken slot answers, in this order (Slot's fields).
TAKEN_FIELDS = (
    "id",
    "session",
    "site",
    "vaccine",
    "dose_number",
    "date",
    "start",
    "end",
    "capacity",
    "booked",
)
TAKEN_COLUMNS = (
    "id",
    "session_id",
    "site_id",
    "vaccine_id",
    "dose_number",
    "date",
    "start",
    '"end"',
    "capacity",
    "booked",
)
_TAKEN = ", ".join(TAKEN_COLUMNS)


def slot_take_sql(conditions: dict[str, object]) -> tuple[str, list[str]]:
    """Invariant 1: one place more in a slot that has not begun and has one free, decided
    by the conditional update itself; `conditions` narrow which slot qualifies (the dose,
    the product, the site, a dose-2 interval). The statement and the order of its extra
    parameters (after the slot id and the time)."""
    unknown = set(conditions) - set(TAKE_CONDITIONS)
    if unknown:
        raise TypeError(f"slot_take: unknown conditions {sorted(unknown)}")
    names = sorted(conditions)
    where = "".join(f" AND {TAKE_CONDITIONS[name]}" for name in names)
    return (
        "UPDATE scheduling_slot SET booked = booked + 1 "
        f"WHERE id = %s AND start > %s AND booked < capacity{where} RETURNING {_TAKEN}",
        names,
    )


def slot_take_row(*, slot_id: int, now: datetime, **conditions: object) -> tuple | None:
    sql, names = slot_take_sql(conditions)
    params = [slot_id, sql_value(now), *(sql_value(conditions[name]) for name in names)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# The read model: a delta is exact under concurrency without a prior lock; when a slot
# fills or frees up, the day's first and last free starts are recounted with the delta,
# in one statement (the row's check wants a start for every free place) that follows a
# lock of its own: the recount's subqueries then see every writer that committed before
# the lock was had (those of a statement that waited would read the slots as before).
_DAY = "site_id = %s AND vaccine_id = %s AND dose_number = %s AND date = %s"
READ_MODEL_LOCK = f"SELECT id FROM scheduling_dayavailability WHERE {_DAY}"
_FREE_OF_DAY = f"FROM scheduling_slot WHERE {_DAY} AND booked < capacity"


def read_model_sql(*, recount: bool, opened: bool = False) -> str:
    """The read model's update of one day's row: its parameters are the delta, the time
    (with `opened`: places given back, the alerts' cue), then the day (three times with
    `recount`: the row and its two subqueries)."""
    sets = "free = free + %s" + (", opened_at = %s" if opened else "")
    if recount:
        sets += (
            f", first_free_start = (SELECT MIN(start) {_FREE_OF_DAY}), "
            f"last_free_start = (SELECT MAX(start) {_FREE_OF_DAY})"
        )
    return f"UPDATE scheduling_dayavailability SET {sets} WHERE {_DAY}"


READ_MODEL_DELTA = read_model_sql(recount=False)
READ_MODEL_RECOUNT = read_model_sql(recount=True)


def read_model_apply(*, key: tuple[int, int, int, date], delta: int, recount: bool) -> None:
    """One day's row of the read model moved by `delta` free places, its first and last
    free starts recounted when `recount` (a slot filled or freed up). Callers go in key
    order (site, vaccine, dose, date): the lock order. Places given back (a cancellation,
    a hold released) mark the row `opened_at`: the alerts' cue."""
    day = (*key[:3], sql_value(key[3]))
    opened = [sql_value(timezone.now())] if delta > 0 else []
    sql = read_model_sql(recount=recount, opened=bool(opened))
    with connection.cursor() as cursor:
        if not recount:
            cursor.execute(sql, [delta, *opened, *day])
            return
        if is_postgresql():
            cursor.execute(f"{READ_MODEL_LOCK} FOR UPDATE", day)
        cursor.execute(sql, [delta, *opened, *day, *day, *day])


def dose2_options_sql(*, postgresql: bool) -> str:
    """Free second-dose slots (id, date, start, end) of a site and product on the days of
    an interval with free places nearest a target day (then the earlier), those days in
    that order; the parameters: target, site, vaccine, first, last, now, days, site,
    vaccine, now. The read model picks the days, so a month of slots is never scanned."""
    distance = (
        "ABS(d.date - CAST(%s AS date))"
        if postgresql
        else "ABS(CAST(julianday(d.date) - julianday(%s) AS integer))"
    )
    return (
        'SELECT s.id, s.date, s.start, s."end" FROM scheduling_slot s JOIN ('
        f"SELECT d.date AS date, {distance} AS distance FROM scheduling_dayavailability d "
        "WHERE d.site_id = %s AND d.vaccine_id = %s AND d.dose_number = 2 AND d.date >= %s "
        "AND d.date <= %s AND d.free > 0 AND d.last_free_start > %s "
        "ORDER BY distance, d.date LIMIT %s) AS days ON s.date = days.date "
        "WHERE s.site_id = %s AND s.vaccine_id = %s AND s.dose_number = 2 AND s.start > %s "
        "AND s.booked < s.capacity ORDER BY days.distance, days.date, s.start, s.id"
    )


def dose2_option_rows(
    *,
    site_id: int,
    vaccine_id: int,
    first: date,
    last: date,
    target: date,
    now: datetime,
    days: int,
) -> list[tuple]:
    """dose2_options_sql's rows for the `days` days nearest `target` in `first`..`last`."""
    at = sql_value(now)
    params = [
        sql_value(target),
        site_id,
        vaccine_id,
        sql_value(first),
        sql_value(last),
        at,
        days,
        site_id,
        vaccine_id,
        at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(dose2_options_sql(postgresql=is_postgresql()), params)
        return cursor.fetchall()


def _narrowed(
    alias: str,
    *,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
) -> tuple[list[str], list]:
    """An AvailabilityFilter's conditions on a table with its fields' names (the read
    model, slots), and their parameters."""
    where, params = [], []
    for condition, value in (
        ("vaccine_id = %s", vaccine_id),
        ("dose_number = %s", dose_number),
        ("date >= %s", date_from),
        ("date <= %s", date_to),
    ):
        if value is not None:
            where.append(f"{alias}.{condition}")
            params.append(sql_value(value))
    return where, params


# A read-model row that has begun is today's (or tomorrow's, across time zones): this
# bound keeps its recount's index scan on (site, start) to a day instead of eight weeks.
STARTED_ROWS_HORIZON = timedelta(days=2)


def _rows_wanted(
    *,
    now: datetime,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
    starts_before: datetime | None,
) -> tuple[list[str], list, str, list]:
    """Read-model rows (`d`) an AvailabilityFilter reads: narrowed, still holding a
    future free place and, with `starts_before` ("dans les 24 heures"), one starting
    before it; then `begun`, those whose figures do not hold as they are (a free place
    begun already, or starting after `starts_before`: a row is a whole day), recounted
    from their slots. The conditions and their parameters, each."""
    at = sql_value(now)
    where, params = _narrowed(
        "d", vaccine_id=vaccine_id, dose_number=dose_number, date_from=date_from, date_to=date_to
    )
    where += ["d.free > 0", "d.last_free_start >= %s"]
    params.append(at)
    begun, begun_params = "d.first_free_start < %s", [at]
    if starts_before is not None:
        before = sql_value(starts_before)
        where.append("d.first_free_start < %s")
        params.append(before)
        begun += " OR d.last_free_start >= %s"
        begun_params.append(before)
    return where, params, f"({begun})", begun_params


def _free_slots_wanted(
    *, now: datetime, starts_before: datetime | None, alias: str = "s"
) -> tuple[list[str], list]:
    """A free place of a slot (`alias`) as people may be offered it: a place left, not
    begun, and with `starts_before`, starting before it."""
    where = [f"{alias}.booked < {alias}.capacity", f"{alias}.start >= %s"]
    params = [sql_value(now)]
    if starts_before is not None:
        where.append(f"{alias}.start < %s")
        params.append(sql_value(starts_before))
    return where, params


# The slots of a read-model row `d` that has begun, recounted (the row's own columns: the
# narrowing of the row is the slots').
_BEGUN_SLOTS = (
    "scheduling_dayavailability d JOIN scheduling_slot s ON s.site_id = d.site_id "
    "AND s.vaccine_id = d.vaccine_id AND s.dose_number = d.dose_number AND s.date = d.date"
)


def _places_rows(
    *, select: str, group: str, rows: str, rows_params: list, now: datetime, **narrowing
) -> list[tuple]:
    """Free places from the read model's rows (`d`, narrowed like an AvailabilityFilter,
    and by `rows`): the rows as they are, UNION ALL those that have begun recounted from
    their slots, in one statement; the union's columns (site_id, date, vaccine_id,
    dose_number, free, first) are grouped by `group` and read by `select`, with the
    product as `v`."""
    where, params, begun, begun_params = _rows_wanted(now=now, **narrowing)
    rows = " AND ".join([rows, *where])
    params = [*rows_params, *params, *begun_params]
    free, free_params = _free_slots_wanted(now=now, starts_before=narrowing["starts_before"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM (SELECT d.site_id, d.date, d.vaccine_id, d.dose_number, "
            "d.free, d.first_free_start AS first FROM scheduling_dayavailability d "
            f"WHERE {rows} AND NOT {begun} UNION ALL SELECT d.site_id, d.date, d.vaccine_id, "
            f"d.dose_number, s.capacity - s.booked, s.start FROM {_BEGUN_SLOTS} WHERE {rows} "
            f"AND {begun} AND {' AND '.join(free)} AND s.start < %s) x "
            f"JOIN vaccines_vaccine v ON v.id = x.vaccine_id GROUP BY {group}",
            [*params, *params, *free_params, sql_value(now + STARTED_ROWS_HORIZON)],
        )
        return cursor.fetchall()


def availability_rows(
    *,
    site_ids: list[int],
    now: datetime,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
    starts_before: datetime | None = None,
) -> list[tuple]:
    """Search's figures of some sites, per site and product: (site, product's name, its
    code, free places, first free start). One statement."""
    return _places_rows(
        select="x.site_id, v.name, v.code, SUM(x.free), MIN(x.first)",
        group="x.site_id, v.name, v.code",
        rows=f"d.site_id IN ({', '.join(['%s'] * len(site_ids))})",
        rows_params=list(site_ids),
        now=now,
        vaccine_id=vaccine_id,
        dose_number=dose_number,
        date_from=date_from,
        date_to=date_to,
        starts_before=starts_before,
    )


def public_sites_in_cells(
    *, cells: list[tuple[int, int]], now: datetime
) -> list[tuple[int, float, float]]:
    """Public sites in ranges of grid cells (core.geo.grid_cell_ranges): (id, latitude,
    longitude), for search to measure in Python. A few index range scans on
    `grid_cell`; no ORDER BY (ordering by id made SQLite scan the whole table)."""
    public, params = public_sites_sql(now=now)
    ranges = " OR ".join(["grid_cell BETWEEN %s AND %s"] * len(cells))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, latitude, longitude FROM sites_site WHERE ({ranges}) AND ({public})",
            [bound for cell_range in cells for bound in cell_range] + params,
        )
        return cursor.fetchall()


def calendar_rows(
    *,
    site_id: int,
    now: datetime,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
    starts_before: datetime | None = None,
) -> list[tuple]:
    """A site's free places per day, product and dose: (date, vaccine code, dose, free).
    One statement."""
    return _places_rows(
        select="x.date, v.code, x.dose_number, SUM(x.free)",
        group="x.date, v.code, x.dose_number",
        rows="d.site_id = %s",
        rows_params=[site_id],
        now=now,
        vaccine_id=vaccine_id,
        dose_number=dose_number,
        date_from=date_from,
        date_to=date_to,
        starts_before=starts_before,
    )


def free_slot_rows(
    *,
    site_id: int,
    day: date | None,
    now: datetime,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
    starts_before: datetime | None = None,
) -> list[tuple]:
    """A site's free slots of a local day, narrowed like an AvailabilityFilter, the
    earliest first: (id, date, start, end, vaccine code, dose, free). Without a day, its
    first day with any (a subquery of the same statement)."""

    def wanted(alias: str) -> tuple[str, list]:
        where, params = _narrowed(
            alias,
            vaccine_id=vaccine_id,
            dose_number=dose_number,
            date_from=date_from,
            date_to=date_to,
        )
        free, free_params = _free_slots_wanted(now=now, starts_before=starts_before, alias=alias)
        return (
            " AND ".join([f"{alias}.site_id = %s", *where, *free]),
            [site_id, *params, *free_params],
        )

    where, params = wanted("s")
    if day is not None:
        on_day, day_params = "s.date = %s", [sql_value(day)]
    else:
        first, day_params = wanted("f")
        on_day = (
            f"s.date = (SELECT f.date FROM scheduling_slot f WHERE {first} "
            "ORDER BY f.start LIMIT 1)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT s.id, s.date, s.start, s."end", v.code, s.dose_number, '
            "s.capacity - s.booked FROM scheduling_slot s "
            "JOIN vaccines_vaccine v ON v.id = s.vaccine_id "
            f"WHERE {where} AND {on_day} ORDER BY s.start, s.id",
            [*params, *day_params],
        )
        return cursor.fetchall()


def slots_free_from_rows(
    *, site_id: int, vaccine_id: int, start: datetime, now: datetime, limit: int
) -> list[int]:
    """A site's free first-dose slots of a product, in open sessions, on the local day of
    its slots starting at `start`, from `start` on and not begun, the earliest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.id FROM scheduling_slot s "
            "JOIN scheduling_session se ON se.id = s.session_id "
            "WHERE s.site_id = %s AND s.vaccine_id = %s AND s.dose_number = 1 "
            "AND s.date = (SELECT d.date FROM scheduling_slot d WHERE d.site_id = %s "
            "AND d.start = %s LIMIT 1) "
            "AND s.start >= %s AND s.booked < s.capacity AND se.status = 'open' "
            "ORDER BY s.start, s.id LIMIT %s",
            [site_id, vaccine_id, site_id, sql_value(start), sql_value(max(start, now)), limit],
        )
        return [slot_id for (slot_id,) in cursor.fetchall()]


def vaccine_active_row(*, code: str) -> tuple | None:
    """An active product by its code: every column, in Vaccine's field order."""
    names = ", ".join(
        connection.ops.quote_name(field.column) for field in Vaccine._meta.concrete_fields
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {names} FROM vaccines_vaccine WHERE code = %s AND active", [code])
        return cursor.fetchone()


def slots_next_rows(
    *,
    first_free: dict[int, datetime],
    now: datetime,
    per_site: int,
    vaccine_id: int | None,
    dose_number: int | None,
    date_from: date | None,
    date_to: date | None,
) -> list[tuple]:
    """The earliest `per_site` free slots of each site in the 24 hours from its first
    free start (and not begun), narrowed like an AvailabilityFilter, numbered per site in
    the database: (site, id, date, start, end, vaccine code, dose, free). One statement."""
    windows = " OR ".join(["(s.site_id = %s AND s.start >= %s AND s.start < %s)"] * len(first_free))
    params: list = []
    for site_id, first in first_free.items():
        params += [site_id, sql_value(first), sql_value(first + timedelta(days=1))]
    where, narrowing = _narrowed(
        "s", vaccine_id=vaccine_id, dose_number=dose_number, date_from=date_from, date_to=date_to
    )
    free, free_params = _free_slots_wanted(now=now, starts_before=None)
    where += [*free, f"({windows})"]
    params = [*narrowing, *free_params, *params]
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT site_id, id, date, start, "end", code, dose_number, free FROM (SELECT '
            's.site_id, s.id, s.date, s.start, s."end", v.code, s.dose_number, '
            "s.capacity - s.booked AS free, "
            "ROW_NUMBER() OVER (PARTITION BY s.site_id ORDER BY s.start, s.id) AS n "
            "FROM scheduling_slot s JOIN vaccines_vaccine v ON v.id = s.vaccine_id "
            f"WHERE {' AND '.join(where)}) AS free_slots WHERE n <= %s ORDER BY start, id",
            [*params, per_site],
        )
        return cursor.fetchall()
