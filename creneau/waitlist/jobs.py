"""The waiting list's background job, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import waitlist_tick


@background_job("waitlist_tick", every=timedelta(minutes=1))
def waitlist_tick_job() -> str:
    report = waitlist_tick()
    return (
        f"{report.offers_expired} offer(s) expired, {report.offers_sent} sent, "
        f"{report.leftovers_ended} declaration(s) ended, {report.entries_expired} entries expired"
    )
