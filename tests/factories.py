"""Small builders for tests: real services underneath, sensible defaults on top."""

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from creneau.core.actor import Actor
from creneau.core.geo import Position, grid_cell
from creneau.geography.models import Commune
from creneau.scheduling.models import Session
from creneau.scheduling.services import session_open
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import delivery_record


def make_site(
    *,
    insee_code: str = "75117",
    name: str = "Centre de vaccination",
    status: str = Site.Status.PUBLISHED,
    latitude: float | None = None,
    longitude: float | None = None,
    **fields,
) -> Site:
    commune = Commune.objects.get(insee_code=insee_code)
    latitude = commune.latitude if latitude is None else latitude
    longitude = commune.longitude if longitude is None else longitude
    return Site.objects.create(
        name=name,
        status=status,
        commune=commune,
        department=commune.department,
        postcode=commune.postal_codes.values_list("code", flat=True).first() or "",
        latitude=latitude,
        longitude=longitude,
        grid_cell=grid_cell(Position(latitude, longitude)),
        **fields,
    )


def vaccine(code: str = "comirnaty") -> Vaccine:
    return Vaccine.objects.get(code=code)


# The lot of the doses delivered to every test site: a dose of it is recorded at once
# (a lot the site never received needs the desk to confirm it was lent).
LOT = "EW1234"


def deliver(site: Site, doses: int, code: str = "comirnaty", lot: str = LOT) -> None:
    delivery_record(
        site=site, vaccine=vaccine(code), quantity=doses, expected_on=timezone.localdate(), lot=lot
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """That day at that time, in the project's time zone."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def tomorrow(days: int = 1) -> date:
    return timezone.localdate() + timedelta(days=days)


def open_session(
    site: Site,
    *,
    code: str = "comirnaty",
    day: date | None = None,
    start: time = time(9, 0),
    end: time = time(10, 0),
    lines: int = 2,
    slot_minutes: int = 10,
    dose_number: int = 1,
) -> Session:
    return session_open(
        site=site,
        vaccine=vaccine(code),
        day=day or tomorrow(),
        start_time=start,
        end_time=end,
        lines=lines,
        slot_minutes=slot_minutes,
        dose_number=dose_number,
    )


def verified_contact(phone: str = "+33612345678"):
    from creneau.booking.models import Contact
    from creneau.booking.services import contact_get_or_create

    contact = contact_get_or_create(channel=Contact.Channel.SMS, address=phone)
    Contact.objects.filter(pk=contact.pk).update(verified_at=timezone.now())
    contact.refresh_from_db()
    return contact


def person(given_name: str = "Jeanne", family_name: str = "Martin", age: int = 80, **fields):
    from creneau.booking.services import PersonData

    today = timezone.localdate()
    return PersonData(
        given_name=given_name,
        family_name=family_name,
        birth_date=today.replace(year=today.year - age) - timedelta(days=1),
        **fields,
    )


def two_dose_site(*, lines: int = 2, doses: int = 1000, dose1_day: date | None = None, **site):
    """A site with a first-dose session tomorrow and second-dose sessions at the
    recommended interval and one week either side."""
    site = make_site(**site)
    deliver(site, doses)
    day = dose1_day or tomorrow()
    session = open_session(site, day=day, lines=lines)
    for offset in (35, 42, 49):
        open_session(site, day=day + timedelta(days=offset), lines=lines, dose_number=2)
    return site, session


# A staff action's actor for tests that do not look at who acted: no account, the system.
STAFF = Actor(user=None)


def series_named(given_name: str, **filters):
    """The one course of a person by their given name: names are encrypted, so compared
    here, not by the database."""
    from creneau.booking.models import Series

    (found,) = [
        series
        for series in Series.objects.select_related("person").filter(**filters)
        if series.person.given_name == given_name
    ]
    return found
