"""sites' background jobs, run by the worker (core.jobs; loaded by apps.py)."""

from datetime import timedelta

from creneau.core.jobs import background_job

from .services import department_publications_run


# Every minute: a department scheduled for 8:00 is public by 8:01 at the latest.
@background_job("department_publications", every=timedelta(minutes=1))
def department_publications_job() -> str:
    return f"{department_publications_run()} site(s) published"
