"""Demo bookings: people booked at the demo staff accounts' site, today and on its next
day of sessions, so that the day's list, check-in, no-shows, cancellation and the call
centre have someone to work with. Made through the real services; safe to run again."""

import random
from datetime import datetime, time, timedelta

from django.utils import timezone

from creneau.booking.addresses import PostalAddress
from creneau.booking.models import Series
from creneau.booking.services import PersonData, booking_confirm, contact_for_agent, hold_create
from creneau.core.errors import DomainError
from creneau.geography.selectors import department_timezone
from creneau.scheduling.models import Slot
from creneau.sites.models import Site

GIVEN_NAMES = [
    "Jeanne", "Marie", "Monique", "Françoise", "Jacqueline", "Simone", "Odette", "Colette",
    "Jean", "Pierre", "Michel", "André", "Bernard", "Jacques", "René", "Marcel",
]  # fmt: skip
FAMILY_NAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
]  # fmt: skip
STREETS = ["rue de Lévis", "avenue de Villiers", "rue Nollet", "boulevard des Batignolles"]
SHARE_BOOKED = 0.6
# One caller in this many has neither a mobile nor an e-mail: a letter, to print.
BY_LETTER_ONE_IN = 40


def demo_bookings_ensure(*, site: Site, days: int = 2) -> int:
    """Book about 60 % of the first-dose places of the site's first `days` days of
    sessions (from today), once. Returns how many courses were booked."""
    if Series.objects.filter(site=site).exists():
        return 0
    tz = department_timezone(department_code=site.department_id)
    today = timezone.localtime(timezone=tz).date()
    # As if booked early this morning, so that this morning's places can be taken too.
    now = timezone.make_aware(datetime.combine(today, time(6)), tz)
    slots = Slot.objects.filter(site=site, dose_number=1, date__gte=today)
    chosen_days = sorted(set(slots.values_list("date", flat=True)))[:days]
    rng = random.Random(site.pk)
    booked = 0
    for slot in slots.filter(date__in=chosen_days).order_by("start"):
        for _ in range(slot.capacity):
            if rng.random() > SHARE_BOOKED:
                continue
            number = booked + 1
            person = PersonData(
                given_name=rng.choice(GIVEN_NAMES),
                family_name=rng.choice(FAMILY_NAMES),
                birth_date=today - timedelta(days=rng.randint(70 * 365, 92 * 365)),
            )
            try:
                contact = (
                    contact_for_agent(
                        postal=PostalAddress(
                            street=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                            postcode=site.postcode,
                            town=site.commune.name if site.commune else "",
                        )
                    )
                    if number % BY_LETTER_ONE_IN == 0
                    else contact_for_agent(phone=f"+336990{number:05d}")
                )
                hold = hold_create(slot_id=slot.pk, now=now).hold
                booking_confirm(hold_id=hold.pk, contact=contact, person=person, now=now)
            except DomainError:
                continue  # the place or a dose 2 ran out, a name drawn twice, an odd postcode
            booked += 1
    return booked
