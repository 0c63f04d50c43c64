"""The worker's schedule: the background jobs every app declares (core.jobs), each due run
taken by one worker however many run (`manage.py worker`).

Each job has a row (JobRun) saying when it is next due. A worker takes a due run with one
conditional UPDATE that moves that time on (`WHERE name = … AND next_run_at <= now`):
only one worker's UPDATE matches, the others find the time already moved and go on. A
run that fails is logged, its error kept on the row, and tried again after
JOB_RETRY at most. A worker that dies during a run leaves the next run where it was
set: the job runs again at its next time (jobs are safe to run twice).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from creneau.core.jobs import Job, jobs_declared

from .models import JobRun
from .sms import ERROR_LENGTH

logger = logging.getLogger(__name__)

# After a failed run, the next try comes this soon (or at the job's period, if shorter).
JOB_RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class JobOutcome:
    name: str
    ok: bool
    said: str  # what the job returned, or its error


def jobs_run_due(*, now: datetime | None = None, jobs: list[Job] | None = None) -> list[JobOutcome]:
    """Run each declared job whose time has come and that no other worker has taken."""
    outcomes = []
    for job in jobs_declared() if jobs is None else jobs:
        outcome = job_run_if_due(job=job, now=now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def job_run_if_due(*, job: Job, now: datetime | None = None) -> JobOutcome | None:
    """Take this job's due run and run it; None when it is not due or another worker
    took it."""
    now = now or timezone.now()
    # A job never run before is due at once (a daily one then settles at its hour).
    JobRun.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
    taken = JobRun.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=job.next_run(after=now), last_started_at=now
    )
    if not taken:
        return None
    try:
        said = job.run()
    except Exception as error:
        text = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
        logger.exception("worker: job %s failed", job.name)
        JobRun.objects.filter(name=job.name).update(
            next_run_at=now + min(job.every, JOB_RETRY),
            last_finished_at=timezone.now(),
            last_error=text,
        )
        return JobOutcome(job.name, ok=False, said=text)
    JobRun.objects.filter(name=job.name).update(last_finished_at=timezone.now(), last_error="")
    return JobOutcome(job.name, ok=True, said=str(said))
