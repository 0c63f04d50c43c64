"""interop's background jobs, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .models import ExternalPlatform
from .publish import smart_publish
from .services import feed_import


@background_job("smart_publish", every=timedelta(minutes=1))
def smart_publish_job() -> str:
    report = smart_publish()
    return f"{report.slots} slots; written: {', '.join(report.written) or 'nothing'}"


@background_job("feeds_import", every=timedelta(minutes=5))
def feeds_import_job() -> str:
    done = []
    for platform_id in ExternalPlatform.objects.filter(active=True).values_list("id", flat=True):
        # One platform's refusal is its own last error: the others are still read.
        report = feed_import(platform_id=platform_id)
        done.append(f"{report.platform}: {report.error or 'ok'}")
    return "; ".join(done)
