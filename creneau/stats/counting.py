"""The statements that count a range of local days from the rows, set-based: the database
groups and sums, Python never walks the rows. `services.stats_rebuild` runs them in order:

1. `facts_sql`: every count of the range per day, site, vaccine, dose number and age band,
   each source grouped on its own, into a temporary table (`stats_facts`): five sources in
   one UNION ALL;
2. `APPOINTMENT_DAYS` and `SITE_DAYS`: that table summed per department and per site;
3. `VACCINATION_DAYS`: the doses given just written, and the deliveries received, per
   department and vaccine, with their running sums (a window over the range, on top of
   the sums of the days before it).

What each figure counts, and the index a one-day refresh reads it through (stats/0002):

| Figure | Rows | Dated by | Index |
|---|---|---|---|
| booked | appointments | `created_at` | …_appointment_created |
| scheduled, no-shows | appointments not cancelled | the slot's `date` | …_slot_date |
| cancelled | appointments cancelled | `updated_at` | …_appointment_status_updated |
| given, dose1, complete | doses not withdrawn | `given_at` | …_administration_given |
| delivered | deliveries received | `received_at` | …_delivery_received |

A timestamp's day is the local day of the site's department (Réunion's midnight is not
Paris's). Each timestamp is first bounded by one range over every zone's days (the index
scan), then its local day is compared with the range's days.

PostgreSQL and SQLite differ in one expression: the local day of a timestamp in a zone
named by a column. PostgreSQL has `AT TIME ZONE`; SQLite has no time zones, so the
function `stats_local_day` (Python's zoneinfo, registered on the connection by
`functions_register`) gives it. Both forms are tested (tests/stats on each database)."""

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from django.db import connection


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_day_sqlite(moment: str | None, zone: str) -> str | None:
    """SQLite's `stats_local_day`: a stored UTC timestamp's local day, YYYY-MM-DD."""
    if moment is None:
        return None
    utc = dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC)
    return utc.astimezone(_zone(zone)).date().isoformat()


def functions_register() -> None:
    """What the statements need on this connection: SQLite's local-day function."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        connection.connection.create_function(
            "stats_local_day", 2, _local_day_sqlite, deterministic=True
        )


def _local_day(moment: str) -> str:
    """The local day of the timestamp column `moment` in its department's zone (`g`)."""
    if connection.vendor == "postgresql":
        return f"(({moment}) AT TIME ZONE g.timezone)::date"
    return f"stats_local_day({moment}, g.timezone)"


def facts_sql() -> str:
    """CREATE the temporary table `stats_facts` of the range's counts, each source's rows
    grouped on its own (the summary tables group them together). Counts are cast to
    integers: PostgreSQL sums bigints into numerics, several times slower to add up.
    Parameters: first, last (the days), start, end (the instants bounding every zone's
    days), cancelled, noshow (statuses)."""
    created, updated = _local_day("a.created_at"), _local_day("a.updated_at")
    given = _local_day("d.given_at")
    return f"""
CREATE TEMPORARY TABLE stats_facts AS
    SELECT {created} AS day, si.department_id, s.site_id, s.vaccine_id, a.dose_number,
           se.age_band, CAST(COUNT(*) AS INTEGER) AS booked, 0 AS scheduled, 0 AS given,
           0 AS noshows, 0 AS cancelled
    FROM booking_appointment a
    JOIN scheduling_slot s ON s.id = a.slot_id
    JOIN sites_site si ON si.id = s.site_id
    JOIN geography_department g ON g.code = si.department_id
    JOIN booking_series se ON se.id = a.series_id
    WHERE a.created_at >= %(start)s AND a.created_at < %(end)s
      AND {created} BETWEEN %(first)s AND %(last)s
    GROUP BY 1, 2, 3, 4, 5, 6
  UNION ALL
    SELECT s.date, si.department_id, s.site_id, s.vaccine_id, a.dose_number, se.age_band,
           0, CAST(COUNT(*) AS INTEGER), 0,
           CAST(SUM(CASE WHEN a.status = %(noshow)s THEN 1 ELSE 0 END) AS INTEGER), 0
    FROM scheduling_slot s
    JOIN sites_site si ON si.id = s.site_id
    JOIN booking_appointment a ON a.slot_id = s.id
    JOIN booking_series se ON se.id = a.series_id
    WHERE s.date BETWEEN %(first)s AND %(last)s AND a.status <> %(cancelled)s
    GROUP BY 1, 2, 3, 4, 5, 6
  UNION ALL
    SELECT {updated}, si.department_id, s.site_id, s.vaccine_id, a.dose_number,
           se.age_band, 0, 0, 0, 0, CAST(COUNT(*) AS INTEGER)
    FROM booking_appointment a
    JOIN scheduling_slot s ON s.id = a.slot_id
    JOIN sites_site si ON si.id = s.site_id
    JOIN geography_department g ON g.code = si.department_id
    JOIN booking_series se ON se.id = a.series_id
    WHERE a.status = %(cancelled)s AND a.updated_at >= %(start)s AND a.updated_at < %(end)s
      AND {updated} BETWEEN %(first)s AND %(last)s
    GROUP BY 1, 2, 3, 4, 5, 6
  UNION ALL
    -- A dose detached from its appointment (its person erased) keeps its site and dose
    -- number, and has no age band any more.
    SELECT {given}, si.department_id, si.id, d.vaccine_id,
           COALESCE(a.dose_number, d.dose_number), COALESCE(se.age_band, ''), 0, 0,
           CAST(COUNT(*) AS INTEGER), 0, 0
    FROM care_administration d
    LEFT JOIN booking_appointment a ON a.id = d.appointment_id
    LEFT JOIN scheduling_slot s ON s.id = a.slot_id
    LEFT JOIN booking_series se ON se.id = a.series_id
    JOIN sites_site si ON si.id = COALESCE(s.site_id, d.site_id)
    JOIN geography_department g ON g.code = si.department_id
    WHERE d.withdrawn_at IS NULL AND d.given_at >= %(start)s AND d.given_at < %(end)s
      AND {given} BETWEEN %(first)s AND %(last)s
    GROUP BY 1, 2, 3, 4, 5, 6
"""


MEASURES = "booked, scheduled, given, noshows, cancelled"
SUMS = "SUM(booked), SUM(scheduled), SUM(given), SUM(noshows), SUM(cancelled)"

APPOINTMENT_DAYS = f"""
INSERT INTO stats_appointmentday
    (day, department_id, vaccine_id, dose_number, age_band, {MEASURES})
SELECT day, department_id, vaccine_id, dose_number, age_band, {SUMS}
FROM stats_facts
GROUP BY day, department_id, vaccine_id, dose_number, age_band
"""

SITE_DAYS = f"""
INSERT INTO stats_siteday (day, site_id, vaccine_id, {MEASURES})
SELECT day, site_id, vaccine_id, {SUMS}
FROM stats_facts
GROUP BY day, site_id, vaccine_id
"""

FACTS_DROP = "DROP TABLE stats_facts"


def vaccination_days_sql() -> str:
    """INSERT the range's rows of stats_vaccinationday, running sums included: those of
    the days before the range (their daily figures summed) plus a window over the range.
    A row exists where doses were given or received. Parameters: first, last, start,
    end, received (the delivery status)."""
    received = _local_day("dl.received_at")
    return f"""
INSERT INTO stats_vaccinationday
    (day, department_id, vaccine_id, delivered, given, dose1, complete,
     cum_delivered, cum_given, cum_dose1, cum_complete)
SELECT f.day, f.dep, f.vaccine, f.delivered, f.given, f.dose1, f.complete,
       COALESCE(b.delivered, 0) + SUM(f.delivered) OVER w,
       COALESCE(b.given, 0) + SUM(f.given) OVER w,
       COALESCE(b.dose1, 0) + SUM(f.dose1) OVER w,
       COALESCE(b.complete, 0) + SUM(f.complete) OVER w
FROM (
    SELECT day, dep, vaccine, SUM(delivered) AS delivered, SUM(given) AS given,
           SUM(dose1) AS dose1, SUM(complete) AS complete
    FROM (
        SELECT ad.day, ad.department_id AS dep, ad.vaccine_id AS vaccine, 0 AS delivered,
               ad.given,
               CASE WHEN ad.dose_number = 1 THEN ad.given ELSE 0 END AS dose1,
               -- The vaccine's last dose completes the course (a one-dose product's
               -- first dose counts in both).
               CASE WHEN ad.dose_number = v.doses_in_series THEN ad.given ELSE 0 END
                   AS complete
        FROM stats_appointmentday ad JOIN vaccines_vaccine v ON v.id = ad.vaccine_id
        WHERE ad.day BETWEEN %(first)s AND %(last)s AND ad.given > 0
      UNION ALL
        SELECT {received}, si.department_id, dl.vaccine_id, dl.quantity, 0, 0, 0
        FROM vaccines_delivery dl
        JOIN sites_site si ON si.id = dl.site_id
        JOIN geography_department g ON g.code = si.department_id
        WHERE dl.status = %(received)s AND dl.received_at >= %(start)s
          AND dl.received_at < %(end)s AND {received} BETWEEN %(first)s AND %(last)s
    ) parts
    GROUP BY day, dep, vaccine
) f
LEFT JOIN (
    SELECT department_id, vaccine_id, SUM(delivered) AS delivered, SUM(given) AS given,
           SUM(dose1) AS dose1, SUM(complete) AS complete
    FROM stats_vaccinationday WHERE day < %(first)s
    GROUP BY department_id, vaccine_id
) b ON b.department_id = f.dep AND b.vaccine_id = f.vaccine
WINDOW w AS (PARTITION BY f.dep, f.vaccine ORDER BY f.day)
"""


def running_sums_move_sql(changes: int) -> str:
    """UPDATE the running sums of the days after a rebuilt range by what the range's
    figures changed, for `changes` departments and vaccines at once. Parameters: for each,
    department, vaccine and the four changes (delivered, given, dose1, complete, the
    order of services.VACCINATION_MEASURES); then the range's last day. The VALUES'
    columns are column1… on both databases."""
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * changes)
    return f"""
UPDATE stats_vaccinationday
SET cum_delivered = cum_delivered + d.column3, cum_given = cum_given + d.column4,
    cum_dose1 = cum_dose1 + d.column5, cum_complete = cum_complete + d.column6
FROM (VALUES {rows}) AS d
WHERE stats_vaccinationday.department_id = d.column1
  AND stats_vaccinationday.vaccine_id = d.column2 AND stats_vaccinationday.day > %s
"""
