"""The age band a course is counted in: set at booking from the birth date and the first
appointment's day, and computed for courses booked before it existed (booking/0013)."""

import importlib

from django.apps import apps

from creneau.booking.models import Series
from creneau.booking.services import PersonData, booking_confirm, hold_create
from tests.factories import two_dose_site, verified_contact

migration = importlib.import_module("creneau.booking.migrations.0014_series_age_band")


def test_a_booking_keeps_the_band_of_the_age_on_the_first_appointment_day(reference):
    _site, session = two_dose_site()
    slot = session.slots.order_by("start").first()
    born = slot.date.replace(year=slot.date.year - 75)  # 75 on that very day
    hold = hold_create(slot_id=slot.pk).hold
    booked = booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(),
        person=PersonData(given_name="Jeanne", family_name="Martin", birth_date=born),
    ).series
    assert booked.age_band == "75-79"
    assert Series.objects.get(pk=booked.pk).age_band == "75-79"

    # A course from before the band existed gets it from the migration.
    Series.objects.filter(pk=booked.pk).update(age_band="")
    migration.bands_computed(apps, None)
    assert Series.objects.get(pk=booked.pk).age_band == "75-79"
