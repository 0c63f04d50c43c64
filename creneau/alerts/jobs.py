"""The alerts' background job, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import alerts_run


@background_job("alerts_match", every=timedelta(minutes=1))
def alerts_match_job() -> str:
    report = alerts_run()
    return (
        f"{report.places} row(s) with places opened, {report.matched} alert(s) matched, "
        f"{report.sent} message(s), {report.booked} ended by a booking, "
        f"{report.expired} expired"
    )
