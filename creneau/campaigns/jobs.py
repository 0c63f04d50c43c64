"""The campaigns' background job, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import campaigns_pass


@background_job("campaign_waves", every=timedelta(minutes=5))
def campaign_waves_job() -> str:
    return campaigns_pass().summary
