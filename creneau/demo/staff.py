"""One demo account per role, so that a newcomer can try every screen."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from creneau.geography.models import Department
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create

DEMO_PASSWORD = "vaccin-demo-2021"
# Île-de-France: the regional authority's departments.
DEMO_REGION = "11"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    scope: str


def demo_staff_site() -> Site | None:
    """Where the demo's site accounts work: the first published site of Paris 17e."""
    return (
        Site.objects.filter(status=Site.Status.PUBLISHED, postcode="75017").order_by("pk").first()
        or Site.objects.filter(status=Site.Status.PUBLISHED).order_by("pk").first()
    )


def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo accounts that are missing; the site accounts work at
    `demo_staff_site`."""
    site = demo_staff_site()
    region = list(Department.objects.filter(region_id=DEMO_REGION))
    Role = StaffProfile.Role
    wanted = [
        ("site.agent", Role.SITE_STAFF, [site] if site else [], [], site.name if site else ""),
        (
            "site.responsable",
            Role.SITE_MANAGER,
            [site] if site else [],
            [],
            site.name if site else "",
        ),
        ("appels.agent", Role.CALL_CENTRE, [], [], "toute la France"),
        ("ars.idf", Role.REGIONAL_AUTHORITY, [], region, "Île-de-France"),
        ("national", Role.NATIONAL_AUTHORITY, [], [], "toute la France"),
    ]
    existing = set(get_user_model().objects.values_list("username", flat=True))
    accounts = []
    for username, role, sites, departments, scope in wanted:
        if username not in existing:
            staff_account_create(
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                sites=sites,
                departments=departments,
            )
        accounts.append(DemoAccount(username=username, role=role.label, scope=scope))
    return accounts
