"""The booking hot path (the public API: hand-written SQL, issue 15) and the staff's path
(the call centre: a hold without a holder, a booking with an actor) leave the same rows
for the same operations, table by table (issue 15, item 6): the same places taken, the
same read-model moves, the same person, course, appointments, message and idempotency
key. What only the staff's path writes is its audit event; what only the public path
writes is who holds the hold and the API's abuse counters (the door's, not the engine's)."""

import uuid

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone

from creneau.booking.models import Hold
from creneau.booking.selectors import dose2_options
from creneau.booking.services import (
    PersonData,
    booking_confirm,
    contact_token_issue,
    hold_create,
    holds,
)
from creneau.booking.sql import slot_for_hold
from creneau.core.errors import Dose2Unavailable
from creneau.scheduling.models import Slot
from creneau.scheduling.services import availability_refresh
from tests.checks import assert_read_model_equals_a_recount
from tests.factories import STAFF, person, two_dose_site, verified_contact
from tests.rows import changes, rows

# The audit log's tables: the staff's path records its action, the public one does not.
STAFF_ONLY = {"audit_auditevent", "audit_chainlink", "audit_chainhead"}
# The API's abuse limits (holds per client, bookings per contact) count at its door.
PUBLIC_ONLY = {"admission_counter"}


def _without_holder(found: dict) -> dict:
    """A hold's rows with who holds it left out (the staff's holds have no holder)."""
    hold = found.get("booking_hold")
    if hold:
        hold = dict(hold)
        hold["inserted"] = [
            tuple(item for item in row if item[0] not in ("client", "address"))
            for row in hold["inserted"]
        ]
        found = {**found, "booking_hold": hold}
    return {table: step for table, step in found.items() if table not in STAFF_ONLY | PUBLIC_ONLY}


@pytest.mark.django_db(transaction=True)
def test_the_public_path_and_the_staff_path_leave_the_same_rows(reference_committed, settings):
    settings.DEMO = False
    # Four places a slot: neither booking fills one (a full slot moves the read model's
    # first and last free times, which would tell the two bookings apart).
    _site, session = two_dose_site(lines=4)
    first, second = list(session.slots.order_by("start"))[:2]
    jeanne = person("Jeanne", "Martin")
    body = {
        "given_name": jeanne.given_name,
        "family_name": jeanne.family_name,
        "birth_date": jeanne.birth_date.isoformat(),
        "categories": [],
    }

    public_contact = verified_contact("+33611111111")
    client = Client(REMOTE_ADDR="127.0.0.1")
    before = rows()
    hold = client.post("/api/v1/holds", {"slot_id": first.pk}, "application/json")
    assert hold.status_code == 201, hold.json()
    held = rows()
    booked = client.post(
        "/api/v1/bookings",
        {
            "hold_id": hold.json()["id"],
            "contact_token": contact_token_issue(contact=public_contact),
            "person": body,
        },
        "application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.json()
    public = (changes(before, held), changes(held, rows()))

    staff_contact = verified_contact("+33622222222")
    before = rows()
    result = hold_create(slot_id=second.pk)
    held = rows()
    booking_confirm(
        hold_id=str(result.hold.pk),
        contact=staff_contact,
        person=PersonData(
            given_name="Paul",
            family_name="Durand",
            birth_date=jeanne.birth_date,
        ),
        idempotency_key=str(uuid.uuid4()),
        actor=STAFF,
    )
    after = rows()
    staff = (changes(before, held), changes(held, after))
    assert any(table in STAFF_ONLY for table in staff[1]), "the staff's booking is audited"

    differences = [
        (step, table, ours.get(table), theirs.get(table))
        for step, ours, theirs in zip(
            ("hold", "booking"),
            map(_without_holder, public),
            map(_without_holder, staff),
            strict=True,
        )
        for table in sorted(set(ours) | set(theirs))
        if ours.get(table) != theirs.get(table)
    ]
    assert not differences, "\n".join(
        f"{step}, {table}:\n  public path {ours}\n  staff path {theirs}"
        for step, table, ours, theirs in differences
    )


@pytest.mark.django_db
def test_a_dose2_option_taken_meanwhile_leaves_the_next_one_held(reference, monkeypatch):
    """The hold's second place was free when the options were read and is full when the
    places are taken (PostgreSQL: the one statement takes the first place only, then the
    next option is tried by itself; SQLite: one statement each): the next option is held,
    the full one untouched, and the read model still equals a recount."""
    _site, session = two_dose_site(lines=1)
    slot = session.slots.order_by("start").first()
    options = dose2_options(slot=slot_for_hold(slot_id=slot.pk), now=timezone.now())
    taken, free = options[0], options[1]
    # Someone took the first option's only place after the options were read.
    Slot.objects.filter(pk=taken.pk).update(booked=F("capacity"))
    availability_refresh(
        site_id=taken.site_id, vaccine_id=taken.vaccine_id, dose_number=2, days=[taken.date]
    )
    monkeypatch.setattr(holds, "dose2_options", lambda **_: options)

    result = hold_create(slot_id=slot.pk)

    assert result.hold.dose2_slot_id == free.pk
    assert Slot.objects.get(pk=taken.pk).booked == 1  # its one place, not two
    assert Slot.objects.get(pk=free.pk).booked == 1
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert_read_model_equals_a_recount()


@pytest.mark.django_db
def test_the_only_dose2_option_taken_meanwhile_holds_nothing(reference, monkeypatch):
    """Invariant 3: with its only dose-2 option full when the places are taken, the hold
    is refused whole: its first place is not kept alone."""
    _site, session = two_dose_site(lines=1)
    slot = session.slots.order_by("start").first()
    options = dose2_options(slot=slot_for_hold(slot_id=slot.pk), now=timezone.now())[:1]
    Slot.objects.filter(pk=options[0].pk).update(booked=F("capacity"))
    availability_refresh(
        site_id=options[0].site_id,
        vaccine_id=options[0].vaccine_id,
        dose_number=2,
        days=[options[0].date],
    )
    monkeypatch.setattr(holds, "dose2_options", lambda **_: options)

    with pytest.raises(Dose2Unavailable):
        hold_create(slot_id=slot.pk)

    assert Slot.objects.get(pk=slot.pk).booked == 0
    assert not Hold.objects.exists()
    assert_read_model_equals_a_recount()
