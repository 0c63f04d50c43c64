import pytest

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
