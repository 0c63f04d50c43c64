from django.utils import timezone

from creneau.booking.models import Appointment, Series
from creneau.core.geo import Position, distance_km
from creneau.demo.bookings import demo_bookings_ensure
from creneau.demo.waitlist import demo_waitlist_ensure
from creneau.outreach.models import Notification
from creneau.scheduling.models import Slot
from creneau.waitlist.models import WaitlistEntry
from tests.factories import two_dose_site


def test_demo_bookings_fill_part_of_todays_places_once(reference):
    site, session = two_dose_site(dose1_day=timezone.localdate(), lines=5)
    booked = demo_bookings_ensure(site=site)
    places = sum(session.slots.values_list("capacity", flat=True))
    assert 0.3 * places <= booked < places
    assert Series.objects.filter(site=site, status="active").count() == booked
    assert Appointment.objects.filter(dose_number=2, status="booked").count() == booked
    assert sum(Slot.objects.filter(session=session).values_list("booked", flat=True)) == booked
    assert demo_bookings_ensure(site=site) == 0


def test_a_few_demo_callers_have_a_postal_address_and_a_letter_to_print(reference):
    site, _session = two_dose_site(dose1_day=timezone.localdate(), lines=20)
    demo_bookings_ensure(site=site)
    letters = Notification.objects.filter(channel="letter", kind="booking_confirmed")
    assert letters.exists() and letters.count() < Series.objects.count() / 10
    assert all(letter.to.endswith("\n75017 PARIS") for letter in letters)


def test_the_demo_waiting_list_is_near_the_site_and_made_once(reference):
    site, _session = two_dose_site()
    assert demo_waitlist_ensure(site=site, people=12) == 12
    centre = Position(site.latitude, site.longitude)
    for entry in WaitlistEntry.objects.all():
        assert distance_km(centre, Position(entry.latitude, entry.longitude)) <= 8.1
        assert entry.status == "active" and entry.vaccines.count() == 4
    assert demo_waitlist_ensure(site=site) == 0
