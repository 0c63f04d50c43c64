"""Builders shared by the onboarding tests."""

from datetime import date

from django.db import connection
from django.utils import timezone

from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.onboarding.services import ApplicationData
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import delivery_record

Role = StaffProfile.Role
EMAIL = "dr.lefebvre@cabinet-exemple.fr"


def application_data(**changes) -> ApplicationData:
    values = dict(
        kind="gp_practice",
        name="Cabinet du Dr Lefebvre",
        address="12 rue de Lévis",
        postcode="75017",
        town="Paris",
        number_kind="rpps",
        number="10003016739",
        applicant_name="Claire Lefebvre",
        email=EMAIL,
        without_slots=True,
    )
    return ApplicationData(**{**values, **changes})


def authority(username: str, *codes: str) -> Actor:
    """A regional authority over these departments, as its services see it."""
    user = staff_account_create(
        username=username,
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code__in=codes)),
    )
    return Actor(user=user, profile=user.staff_profile)


def raw_values(table: str, column: str) -> list[str]:
    """What the database holds in a column, without the model's decryption."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return [row[0] for row in cursor.fetchall()]


def receive(site, doses: int, *, code: str = "comirnaty", on: date | None = None) -> None:
    """Doses received (on hand) or, with `on`, confirmed for delivery that day."""
    delivery_record(
        site=site,
        vaccine=Vaccine.objects.get(code=code),
        quantity=doses,
        expected_on=on or timezone.localdate(),
        received_at=None if on else timezone.now(),
    )
