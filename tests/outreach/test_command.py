"""manage.py outbox_send: one batch by hand; manage.py worker: the outbox and the jobs,
until SIGTERM."""

import io
import os
import signal
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from creneau.core import jobs
from creneau.core.jobs import Job
from creneau.outreach.models import Notification
from tests.outreach.backends import permanent, script

PHONE = "+33612345678"


def message(to: str = PHONE, number: int = 1) -> Notification:
    return Notification.objects.create(
        channel="sms",
        to=to,
        kind="verification_code",
        event=f"verification:{number}",
        parameters={"minutes": 10},
        derived={"code": ["verification_code", "v1"]},
    )


def test_one_batch_prints_what_was_sent_and_what_failed_without_addresses(db, sms_outbox):
    sent, refused = message(), message("+33699999999", number=2)
    script["+33699999999"] = [permanent("HTTP 400: invalid number")]
    out = io.StringIO()
    call_command("outbox_send", stdout=out)
    lines = out.getvalue().splitlines()
    assert f"sent sms #{sent.pk} verification_code (attempt 1)" in lines
    assert f"failed sms #{refused.pk} verification_code (attempt 1): HTTP 400: invalid number" in (
        lines
    )
    assert lines[-1] == "1 sent, 0 to retry, 1 failed."
    assert "+336" not in out.getvalue()


def test_in_production_it_refuses_backends_that_only_print(db, settings):
    settings.DEBUG = settings.DEMO = False
    settings.SMS_BACKEND = "creneau.outreach.sms.ConsoleBackend"
    with pytest.raises(CommandError, match="SMS_BACKEND"):
        call_command("outbox_send", stdout=io.StringIO())


def test_the_worker_sends_runs_its_jobs_then_stops_cleanly_on_sigterm(
    transactional_db, sms_outbox, monkeypatch
):
    message()
    ran = []
    monkeypatch.setattr(
        jobs,
        "_jobs",
        {"probe": Job("probe", lambda: ran.append(1) or "probed", timedelta(hours=1))},
    )
    before = signal.getsignal(signal.SIGTERM)
    # The signal arrives while the worker idles after sending.
    timer = threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    out = io.StringIO()
    try:
        call_command("worker", "--idle-seconds=0.1", stdout=out)
    finally:
        timer.cancel()
    assert [s.to for s in sms_outbox] == [PHONE]
    lines = out.getvalue().splitlines()
    assert "job probe done: probed" in lines
    assert ran == [1]  # once in the hour, however often the schedule is looked at
    assert lines[-1] == "worker stopped"
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_worker_refuses_backends_that_only_print_in_production(db, settings):
    settings.DEBUG = settings.DEMO = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    with pytest.raises(CommandError, match="EMAIL_BACKEND"):
        call_command("worker", stdout=io.StringIO())
