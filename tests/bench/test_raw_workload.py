"""bench/rush.py's raw SQL workload must do the application's work, no less: one hold and
one booking through the API, the same through the raw statements, and the rows each
leaves compared table by table (issue 15, item 1). A column the application fills and
the raw workload forgets (or the reverse), a table only one of them writes, a count only
one of them moves: the raw limit would measure other work, and this test fails."""

import datetime as dt
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from creneau.booking.services import contact_token_issue
from creneau.eligibility.models import EligibilityRule
from tests.factories import two_dose_site, verified_contact
from tests.rows import changes, rows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import rush  # bench/ is not a package: found through the path above


@pytest.mark.django_db(transaction=True)
def test_raw_workload_leaves_the_rows_the_application_leaves(reference_committed, settings):
    settings.DEMO = False
    # The rush's crowd comes from one address: its limits are off, as the rush sets them.
    for name, value in rush.CROWD_FROM_ONE_ADDRESS.items():
        setattr(settings, name, int(value) if name.startswith("HOLDS_") else value)
    # Four places a slot: neither booking fills one (a full slot moves the read model's
    # first and last free times, which would tell the two bookings apart).
    _site, session = two_dose_site(lines=4)
    first, second = list(session.slots.order_by("start"))[:2]
    vaccine = first.vaccine
    world = {
        "vaccine": {
            "id": vaccine.pk,
            "min": vaccine.interval_min_days,
            "rec": vaccine.interval_recommended_days,
            "max": vaccine.interval_max_days,
        },
        "rule_id": EligibilityRule.objects.get(slug="2021-06-12-ans").pk,
    }
    client = Client(REMOTE_ADDR="127.0.0.1")

    # The application: hold, then book, through the API as the rush's clients do.
    app_contact = verified_contact("+33611111111")
    token = contact_token_issue(contact=app_contact)
    before = rows()
    hold = client.post("/api/v1/holds", {"slot_id": first.pk}, "application/json")
    assert hold.status_code == 201, hold.json()
    held = rows()
    booked = client.post(
        "/api/v1/bookings",
        rush.booking_body(hold.json()["id"], token, 1),
        "application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.json()
    after = rows()
    app = (changes(before, held), changes(held, after))

    # The raw workload, on the same database and site, through Django's own connection.
    raw_contact = verified_contact("+33622222222")
    connection.ensure_connection()
    kind = "postgres" if connection.vendor == "postgresql" else "sqlite"
    raw = rush.RawSQL(kind, "", world, conn=connection.connection)
    now = timezone.now().astimezone(dt.UTC)
    before = rows()
    hold_id, refusal = raw.hold(second.pk, now)
    assert refusal is None
    held = rows()
    raw.book(hold_id, (raw_contact.pk, raw_contact.address), 2, now)
    after = rows()
    bench = (changes(before, held), changes(held, after))

    differences = [
        (step, table, ours.get(table), theirs.get(table))
        for step, ours, theirs in zip(("hold", "booking"), app, bench, strict=True)
        for table in sorted(set(ours) | set(theirs))
        if ours.get(table) != theirs.get(table)
    ]
    assert not differences, "\n".join(
        f"{step}, {table}:\n  application {ours}\n  raw workload {theirs}"
        for step, table, ours, theirs in differences
    )


@pytest.mark.django_db
def test_the_read_model_statements_the_raw_workload_shares_run_as_written(reference):
    """The raw workload sends scheduling.sql's read-model statements as they are (the test
    above never fills a slot, so never recounts): each must run, and a zero delta with a
    recount must leave the row as the slots say it is."""
    from creneau.core.db import sql_value
    from creneau.scheduling.models import DayAvailability
    from creneau.scheduling.sql import READ_MODEL_DELTA, READ_MODEL_RECOUNT

    two_dose_site(lines=1)
    row = DayAvailability.objects.order_by("pk").first()
    before = DayAvailability.objects.values().get(pk=row.pk)
    day = (row.site_id, row.vaccine_id, row.dose_number, sql_value(row.date))
    with connection.cursor() as cursor:
        cursor.execute(READ_MODEL_DELTA, [0, *day])
        cursor.execute(READ_MODEL_RECOUNT, [0, *day, *day, *day])
    assert DayAvailability.objects.values().get(pk=row.pk) == before
