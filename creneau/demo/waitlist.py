"""The demo's waiting list: people around the demo staff accounts' site (Paris 17e) who
wait for leftover doses, so that a nurse declaring some sees offers go. Made through the
real service; safe to run again."""

import math
import random
from datetime import date, time

from django.utils import timezone

from creneau.booking.services import PersonData, contact_for_agent
from creneau.core.errors import DomainError
from creneau.core.geo import Position
from creneau.geography.selectors import Place
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine
from creneau.waitlist.models import WaitlistEntry
from creneau.waitlist.services import Window, waitlist_join

from .bookings import FAMILY_NAMES, GIVEN_NAMES

PEOPLE = 30
# Their numbers: the first one's messages are at /demo/messages/?to=+33698000001.
FIRST_PHONE = "+33698{number:06d}"


def demo_waitlist_ensure(*, site: Site, people: int = PEOPLE) -> int:
    """Put `people` people on the list within 8 km of `site`, once. Returns how many."""
    if WaitlistEntry.objects.exists():
        return 0
    rng = random.Random(site.pk)
    vaccines = list(Vaccine.objects.filter(active=True).values_list("pk", flat=True))
    joined = 0
    for number in range(1, people + 1):
        distance, bearing = rng.uniform(0.2, 8), rng.uniform(0, 2 * math.pi)
        position = Position(
            site.latitude + distance * math.cos(bearing) / 111.2,
            site.longitude
            + distance * math.sin(bearing) / (111.2 * math.cos(math.radians(site.latitude))),
        )
        try:
            waitlist_join(
                contact=contact_for_agent(phone=FIRST_PHONE.format(number=number)),
                person=PersonData(
                    given_name=rng.choice(GIVEN_NAMES),
                    family_name=f"{rng.choice(FAMILY_NAMES)}-{number}",
                    birth_date=_birth_date(rng),
                ),
                place=Place(position=position, label=f"{distance:.1f} km de {site.name}"),
                radius_km=rng.choice((5, 10, 10, 20, 30)),
                windows=[Window(days=frozenset(range(7)), start=time(8), end=time(21))],
                notice_minutes=rng.choice((30, 30, 120)),
                vaccine_ids=vaccines,
            )
        except DomainError:
            continue  # the same person drawn twice
        joined += 1
    return joined


def _birth_date(rng: random.Random) -> date:
    today = timezone.localdate()
    return today.replace(year=today.year - rng.randint(56, 90), day=min(today.day, 28))
