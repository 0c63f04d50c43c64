import pytest
from django.utils import timezone

from creneau.outreach import sms
from tests.outreach import backends


@pytest.fixture
def sms_outbox(settings):
    """SMS go to `sms.outbox` (and fail as `backends.script` says); e-mails to
    `mail.outbox` (pytest-django's locmem backend)."""
    settings.SMS_BACKEND = "tests.outreach.backends.ScriptedBackend"
    sms.outbox.clear()
    backends.script.clear()
    yield sms.outbox
    sms.outbox.clear()
    backends.script.clear()


@pytest.fixture
def time_machine_now(monkeypatch):
    """Set the clock django.utils.timezone.now reads (where a service takes no `now`)."""

    def travel(moment):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return travel
