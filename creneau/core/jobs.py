"""The background jobs the worker runs on a schedule (`manage.py worker`, outreach), declared
by any app like health checks are (`@background_job`, in the app's `jobs.py`, loaded by
its AppConfig), so that the worker imports nothing above it and an app that adds a job
(campaign waves, reminders) touches no other.

A job is a function without arguments that does a bounded piece of work and returns what
it did, in words for the worker's log (a count, a report). It must be safe to run twice
and at the same time as itself: each due run is taken by one worker (the schedule's row,
outreach.JobRun, claimed by a conditional UPDATE), but a run that outlives its period,
or a worker that died half-way, may meet another.

`every` is the period; `at`, for a daily job, the time of day (Europe/Paris) it runs at.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# The daily jobs' `at` is a time of day here (the operator's night is France's).
SCHEDULE_TIMEZONE = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], object]
    every: timedelta
    at: time | None = None

    def next_run(self, *, after: datetime) -> datetime:
        """The next time this job is due after `after` (aware)."""
        if self.at is None:
            return after + self.every
        local = after.astimezone(SCHEDULE_TIMEZONE)
        candidate = datetime.combine(local.date(), self.at, tzinfo=SCHEDULE_TIMEZONE)
        while candidate <= local:
            candidate += self.every
        return candidate


_jobs: dict[str, Job] = {}


def background_job(
    name: str, *, every: timedelta, at: time | None = None
) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Declare a job the worker runs every `every` (at `at` o'clock, for a daily one)."""
    if at is not None and every != timedelta(days=1):
        raise ValueError("`at` is for daily jobs")

    def register(run: Callable[[], object]) -> Callable[[], object]:
        _jobs[name] = Job(name=name, run=run, every=every, at=at)
        return run

    return register


def jobs_declared() -> list[Job]:
    return sorted(_jobs.values(), key=lambda job: job.name)
