from django.core.management.base import BaseCommand

from creneau.interop.models import ExternalPlatform
from creneau.interop.services import feed_import


class Command(BaseCommand):
    help = (
        "Read every active external platform's SMART Scheduling Links feed once (conditional "
        "request on its manifest) and replace what search shows of it. Run it every few "
        "minutes; a feed that fails keeps its last good read, marked not confirmed after "
        "INTEROP_STALE_MINUTES."
    )

    def add_arguments(self, parser):
        parser.add_argument("--platform", type=int, help="only this platform's id")

    def handle(self, *args, platform: int | None, **options):
        platforms = ExternalPlatform.objects.filter(active=True).order_by("id")
        if platform is not None:
            platforms = platforms.filter(pk=platform)
        for platform_id in platforms.values_list("id", flat=True):
            report = feed_import(platform_id=platform_id)
            if report.error:
                self.stderr.write(f"{report.platform}: refused: {report.error}")
            elif report.unchanged:
                self.stdout.write(f"{report.platform}: unchanged")
            else:
                self.stdout.write(
                    f"{report.platform}: {report.locations} locations ({report.matched} matched, "
                    f"{report.external} external, {report.without_position} without position "
                    f"left out), {report.slots} free places on {report.days} days, "
                    f"{report.ignored} slots ignored"
                )
