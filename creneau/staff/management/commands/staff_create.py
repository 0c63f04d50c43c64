"""manage.py staff_create: a staff account with its role and scope, for operators.

    manage.py staff_create m.dupont --role site_manager --site 1234 --site 1240
    manage.py staff_create ars.bretagne --role regional_authority --department 22 --department 29

The password is asked twice on the terminal (or read from STAFF_PASSWORD for scripts),
and must pass the password rules.
"""

import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from creneau.geography.models import Department
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create

Role = StaffProfile.Role
SITE_ROLES = {Role.SITE_STAFF, Role.SITE_MANAGER}


class Command(BaseCommand):
    help = "Create a staff account: a role, and the sites or departments it covers."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--site", type=int, action="append", default=[], dest="sites")
        parser.add_argument("--department", action="append", default=[], dest="departments")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, sites, departments, email, **options):
        if role in SITE_ROLES and not sites:
            raise CommandError("site staff and site managers need at least one --site")
        if role == Role.REGIONAL_AUTHORITY and not departments:
            raise CommandError("a regional authority needs at least one --department")
        found_sites = list(Site.objects.filter(pk__in=sites))
        if missing := set(sites) - {site.pk for site in found_sites}:
            raise CommandError(f"no such site: {sorted(missing)}")
        found_departments = list(Department.objects.filter(pk__in=departments))
        if missing := set(departments) - {d.pk for d in found_departments}:
            raise CommandError(f"no such department: {sorted(missing)}")
        password = os.environ.get("STAFF_PASSWORD") or self._ask_password()
        try:
            staff_account_create(
                username=username,
                password=password,
                role=role,
                sites=found_sites if role in SITE_ROLES else [],
                departments=found_departments if role == Role.REGIONAL_AUTHORITY else [],
                email=email,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"created {username} ({Role(role).label})")

    @staticmethod
    def _ask_password() -> str:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the two passwords differ")
        return password
