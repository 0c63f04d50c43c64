"""A booking at a site tomorrow at 9:00, made at 8:00, and a nurse to record its doses."""

import pytest

from creneau.booking.services import booking_confirm, hold_create
from tests.factories import at, person, tomorrow, two_dose_site, verified_contact

DAY = tomorrow()


@pytest.fixture
def booked(reference, django_user_model):
    """A booking for 9:00 tomorrow, made at 8:00; its dose 2 six weeks later."""
    site, session = two_dose_site(dose1_day=DAY)
    slot = session.slots.order_by("start").first()
    hold = hold_create(slot_id=slot.pk, now=at(DAY, 8)).hold
    result = booking_confirm(
        hold_id=hold.pk, contact=verified_contact(), person=person(), now=at(DAY, 8)
    )
    nurse = django_user_model.objects.create_user(username="nurse")
    dose1, dose2 = sorted(result.appointments, key=lambda a: a.dose_number)
    return site, dose1, dose2, nurse
