"""Builders for the waiting list's tests: a site near Paris 17 with stock, people on the
list around it, a declaration at a fixed moment (tomorrow 17:00, so that every test
runs the same whatever the hour)."""

from datetime import time, timedelta

from creneau.core.geo import Position
from creneau.geography.models import Commune
from creneau.geography.selectors import Place
from creneau.vaccines.models import Vaccine
from creneau.waitlist.services import Window, leftover_declare, waitlist_join
from tests.factories import LOT, STAFF, at, deliver, make_site, person, tomorrow, verified_contact

NOW = at(tomorrow(), 17, 0)
EVERY_DAY = [Window(days=frozenset(range(7)), start=time(8, 0), end=time(21, 0))]


def paris17() -> Place:
    commune = Commune.objects.get(insee_code="75117")
    return Place(position=Position(commune.latitude, commune.longitude), label="Paris 17e")


def place_at(*, north_km: float) -> Place:
    """A place `north_km` north of Paris 17 (a degree of latitude is 111 km)."""
    centre = paris17().position
    return Place(
        position=Position(centre.latitude + north_km / 111.2, centre.longitude),
        label=f"{north_km} km",
    )


def leftover_site(*, code: str = "janssen", doses: int = 100, **fields):
    site = make_site(**fields)
    deliver(site, doses, code=code)
    return site


def join(
    number: int,
    *,
    age: int = 80,
    north_km: float = 1.0,
    codes: tuple[str, ...] = ("janssen", "comirnaty"),
    notice: int = 30,
    now=NOW,
    phone: str | None = None,
    **person_fields,
):
    """Person `number` on the list, from their own phone."""
    contact = verified_contact(phone or f"+336{number:08d}")
    return waitlist_join(
        contact=contact,
        person=person(
            given_name=f"Personne{number}", family_name="Attente", age=age, **person_fields
        ),
        place=place_at(north_km=north_km),
        radius_km=10,
        windows=EVERY_DAY,
        notice_minutes=notice,
        vaccine_ids=[Vaccine.objects.get(code=code).pk for code in codes],
        now=now - timedelta(minutes=number),
    )


def declare(site, *, doses: int = 2, code: str = "janssen", until=None, now=NOW, lot: str = LOT):
    return leftover_declare(
        actor=STAFF,
        site=site,
        vaccine=Vaccine.objects.get(code=code),
        lot=lot,
        doses=doses,
        until=until or now + timedelta(hours=2),
        now=now,
    )
