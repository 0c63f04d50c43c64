"""stats' background job, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import stats_refresh_due


@background_job("stats_refresh", every=timedelta(minutes=10))
def stats_refresh_job() -> str:
    refreshed = stats_refresh_due()
    return f"{refreshed.first} to {refreshed.last}: {refreshed.vaccination_rows} vaccination rows"
