"""The worker's schedule: each due run of a job is taken by one worker, however many look
at once; a failed run is tried again soon; a daily job keeps its hour."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from creneau.core.jobs import Job, jobs_declared
from creneau.outreach.models import JobRun
from creneau.outreach.worker import JOB_RETRY, job_run_if_due, jobs_run_due
from tests.concurrency.racers import race_threads

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2027, 3, 2, 10, 0, tzinfo=PARIS)


def counting_job(every=timedelta(minutes=1), at=None, fail=False) -> tuple[Job, list]:
    ran = []

    def run():
        ran.append(1)
        if fail:
            raise RuntimeError("boom")
        return "ok"

    return Job("probe", run, every, at), ran


def test_every_background_job_of_the_project_is_declared():
    assert {job.name for job in jobs_declared()} >= {
        "holds_expire",
        "sessions_close_elapsed",
        "retention_purge",
        "audit_seal",
        "appointment_reminders",
    }


def test_a_job_runs_once_per_period(db):
    job, ran = counting_job()
    assert job_run_if_due(job=job, now=T0).ok
    assert job_run_if_due(job=job, now=T0 + timedelta(seconds=59)) is None
    assert job_run_if_due(job=job, now=T0 + timedelta(minutes=1)).said == "ok"
    assert len(ran) == 2


def test_a_failed_run_is_recorded_and_tried_again_after_the_retry_delay(db):
    job, _ = counting_job(every=timedelta(days=1), at=time(3, 30), fail=True)
    outcome = job_run_if_due(job=job, now=T0)
    assert (outcome.ok, outcome.said) == (False, "RuntimeError: boom")
    row = JobRun.objects.get(name="probe")
    assert row.last_error == "RuntimeError: boom"
    assert row.next_run_at == T0 + JOB_RETRY
    assert job_run_if_due(job=job, now=T0 + JOB_RETRY - timedelta(seconds=1)) is None
    assert job_run_if_due(job=job, now=T0 + JOB_RETRY) is not None


def test_a_daily_job_settles_at_its_hour_in_paris(db):
    job, _ = counting_job(every=timedelta(days=1), at=time(3, 30))
    job_run_if_due(job=job, now=T0)  # never run: at once
    assert JobRun.objects.get(name="probe").next_run_at == datetime(2027, 3, 3, 3, 30, tzinfo=PARIS)
    assert jobs_run_due(now=datetime(2027, 3, 3, 3, 29, tzinfo=PARIS), jobs=[job]) == []
    assert len(jobs_run_due(now=datetime(2027, 3, 3, 3, 30, tzinfo=PARIS), jobs=[job])) == 1


def test_the_next_daily_run_counts_the_change_to_summer_time():
    job, _ = counting_job(every=timedelta(days=1), at=time(3, 30))
    # 28 March 2027: clocks go from 02:00 to 03:00 in Paris.
    after = datetime(2027, 3, 27, 4, 0, tzinfo=PARIS)
    assert job.next_run(after=after) == datetime(2027, 3, 28, 3, 30, tzinfo=PARIS)


@pytest.mark.concurrency
def test_eight_workers_looking_at_once_run_a_due_job_once(transactional_db):
    job, ran = counting_job()
    results = race_threads(8, lambda _i: job_run_if_due(job=job, now=T0))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(ran) == 1
    assert sum(1 for r in results if r is not None) == 1


def test_a_failing_job_shows_in_the_metrics_until_a_run_succeeds(client, db, monkeypatch):
    job, _ = counting_job(fail=True)
    job_run_if_due(job=job, now=T0)

    def failing() -> float:
        text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        (line,) = [
            line
            for line in text.splitlines()
            if line.startswith('creneau_job_failing{job="probe"}')
        ]
        return float(line.split()[-1])

    assert failing() == 1
    ok, _ = counting_job()
    job_run_if_due(job=ok, now=T0 + JOB_RETRY)
    assert failing() == 0
