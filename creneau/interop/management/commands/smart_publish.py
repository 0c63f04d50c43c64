from django.core.management.base import BaseCommand

from creneau.interop.publish import smart_publish


class Command(BaseCommand):
    help = (
        "Write the SMART Scheduling Links files (manifest, Locations, Schedules, Slots per "
        "department) into SMART_PUBLISH_DIR, served under /smart/. Run it every minute."
    )

    def handle(self, *args, **options):
        report = smart_publish()
        self.stdout.write(
            f"{report.sites} sites, {report.schedules} schedules, {report.slots} slots; "
            f"written: {', '.join(report.written) or 'nothing (unchanged)'}"
            + (f"; removed: {', '.join(report.removed)}" if report.removed else "")
        )
