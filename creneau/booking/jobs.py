"""booking's background jobs, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .reminders import reminders_enqueue
from .services import holds_expire


@background_job("holds_expire", every=timedelta(minutes=1))
def holds_expire_job() -> str:
    """Not needed for correctness (a full slot reclaims its expired holds): keeps the
    search's figures fresh in between."""
    return f"{holds_expire()} expired hold(s) released"


@background_job("appointment_reminders", every=timedelta(minutes=1))
def appointment_reminders_job() -> str:
    return f"{reminders_enqueue()} reminder(s) written"
