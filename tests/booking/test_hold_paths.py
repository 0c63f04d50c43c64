"""A hold named by site and time (the API's hot path, search → hold → book) and a hold of
one slot (the portal, the call centre, staff) are the same hold: the same rows written,
the same counts moved (issue 15, item 6)."""

from creneau.booking.services import Holder, hold_create, hold_create_at
from tests.factories import two_dose_site
from tests.rows import changes, rows


def test_a_hold_by_site_and_time_leaves_the_rows_a_hold_by_slot_leaves(reference):
    # Four places a slot: neither hold fills one (which would move the read model's
    # first and last free times, and tell the two apart).
    site, session = two_dose_site(lines=4)
    first, second = list(session.slots.order_by("start"))[:2]
    holder = Holder(client="api:127.0.0.1", network="127.0.0.1")

    before = rows()
    by_slot = hold_create(slot_id=first.pk, holder=holder)
    by_slot_rows = changes(before, rows())

    before = rows()
    by_place = hold_create_at(
        site_id=site.pk, vaccine_id=second.vaccine_id, start=second.start, holder=holder
    )
    by_place_rows = changes(before, rows())

    assert by_place.hold.slot_id == second.pk
    assert by_slot.hold.dose2_slot_id and by_place.hold.dose2_slot_id
    assert by_place_rows == by_slot_rows
    assert set(by_slot_rows) == {"booking_hold", "scheduling_slot", "scheduling_dayavailability"}
