import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from creneau.demo.bookings import demo_bookings_ensure
from creneau.demo.campaigns import demo_campaign_ensure
from creneau.demo.external import demo_external_platform_ensure
from creneau.demo.history import demo_history_simulate
from creneau.demo.sessions import DEMO_SITES_FILE, demo_schedule_generate
from creneau.demo.staff import DEMO_PASSWORD, demo_accounts_ensure, demo_staff_site
from creneau.demo.waitlist import FIRST_PHONE, demo_waitlist_ensure
from creneau.eligibility.services import eligibility_seed
from creneau.geography.services import geography_load
from creneau.sites.models import Site
from creneau.sites.services import sites_import_official
from creneau.vaccines.services import vaccines_seed


class Command(BaseCommand):
    help = "Load the demo: geography, vaccines, the real sites of 2021 and eight weeks of slots."

    def handle(self, *args, **options):
        started = time.monotonic()
        counts = geography_load()
        vaccines_seed()
        eligibility_seed()
        self.stdout.write(f"Geography: {counts['communes']} communes.")
        if not Site.objects.filter(source="sante.fr").exists():
            report = sites_import_official(path=DEMO_SITES_FILE)
            self.stdout.write(
                f"Sites: {report.created} imported, {report.published} published, "
                f"{report.rejected} rejected."
            )
        self.stdout.write(
            "Opening eight weeks of sessions with their dose deliveries "
            "(about three minutes the first time, seconds afterwards)…"
        )
        schedule = demo_schedule_generate()
        self.stdout.write(
            f"Schedule: {schedule.sessions} sessions opened at {schedule.sites} sites, "
            f"{schedule.doses_delivered} doses delivered."
        )
        history = demo_history_simulate()
        if history.courses:
            self.stdout.write(
                f"Campaign history: {history.courses} courses begun over the last eight weeks "
                f"in {history.departments} departments, {history.doses} doses given; "
                "statistics rebuilt."
            )
        published = Site.objects.filter(status=Site.Status.PUBLISHED).aggregate(
            sites=Count("pk"),
            departments=Count("department", distinct=True),
            overseas=Count(
                "department", distinct=True, filter=Q(department__code__startswith="97")
            ),
        )
        self.stdout.write(
            f"Demo ready in {time.monotonic() - started:.0f} s: {published['sites']} published "
            f"sites in {published['departments']} departments ({published['overseas']} overseas)."
        )
        self.stdout.write(
            f"Staff accounts ({settings.PUBLIC_URL}/backoffice/), "
            f"password {DEMO_PASSWORD} for each:"
        )
        for account in demo_accounts_ensure():
            self.stdout.write(f"  {account.username:<18} {account.role} — {account.scope}")
        site = demo_staff_site()
        if site is not None:
            booked = demo_bookings_ensure(site=site)
            if booked:
                self.stdout.write(
                    f"Demo bookings: {booked} people booked at {site.name} (site {site.pk}), "
                    "on its first two days of sessions from today."
                )
            waiting = demo_waitlist_ensure(site=site)
            if waiting:
                self.stdout.write(
                    f"Waiting list: {waiting} people within 8 km of {site.name} wait for "
                    f"leftover doses (the first one's messages: {settings.PUBLIC_URL}"
                    f"/demo/messages/?to={FIRST_PHONE.format(number=1)})."
                )
        invitations = demo_campaign_ensure()
        self.stdout.write(
            f"Invitation campaign: {invitations.people} people imported, "
            f"{invitations.invited} invited now; one invitation's link: {invitations.link}"
        )
        external = demo_external_platform_ensure()
        self.stdout.write(
            f"Another booking platform: {external.platform}, {external.locations} pharmacies "
            f"near Paris, {external.slots} free places"
            + (f" (refused: {external.error})" if external.error else "")
            + "."
        )
        self.stdout.write(
            f"Book at {settings.PUBLIC_URL}/ (the API: {settings.PUBLIC_URL}/api/v1/docs)."
        )
