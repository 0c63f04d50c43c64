"""scheduling's background jobs, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import sessions_close_elapsed


@background_job("sessions_close_elapsed", every=timedelta(minutes=5))
def sessions_close_elapsed_job() -> str:
    return f"{sessions_close_elapsed()} dose(s) returned to the stock"
