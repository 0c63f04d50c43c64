from creneau.core.jobs import jobs_declared
from creneau.interop.jobs import feeds_import_job, smart_publish_job
from creneau.interop.models import ExternalPlatform

from .test_import import _good_feed


def test_the_worker_publishes_every_minute_and_reads_feeds_every_five(
    reference, feed_server, settings, tmp_path
):
    every = {job.name: job.every.total_seconds() for job in jobs_declared()}
    assert (every["smart_publish"], every["feeds_import"]) == (60, 300)
    settings.SMART_PUBLISH_DIR = tmp_path
    smart_publish_job()
    assert (tmp_path / "$bulk-publish").exists()
    # A platform that fails does not stop the next one from being read.
    ExternalPlatform.objects.create(name="En panne", manifest_url=feed_server.url("/absent"))
    ExternalPlatform.objects.create(name="Rdv Exemple", manifest_url=_good_feed(feed_server))
    summary = feeds_import_job()
    assert "En panne: Réponse 404" in summary and "Rdv Exemple: ok" in summary
    assert ExternalPlatform.objects.get(name="Rdv Exemple").last_success_at is not None
