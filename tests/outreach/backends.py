"""Test backends the settings name by dotted path, and what racing processes run."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend

from creneau.core.actor import Actor
from creneau.outreach.sms import MemoryBackend, SendError

# Per address, what the provider answers next: an exception to raise, in turn; once
# the list is empty the message goes through. Tests fill it and empty it.
script: dict[str, list[BaseException]] = {}


class ScriptedBackend(MemoryBackend):
    """MemoryBackend with a provider that fails as the test says."""

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        answers = script.get(to)
        if answers:
            raise answers.pop(0)
        super().send(to=to, text=text, reference=reference)


class RefusingEmailBackend(BaseEmailBackend):
    """An SMTP server that refuses some recipients and hangs up on others."""

    def send_messages(self, email_messages):
        for message in email_messages:
            (address,) = message.to
            if address.startswith("refused"):
                raise smtplib.SMTPRecipientsRefused({address: (550, b"No such user")})
            if address.startswith("busy"):
                raise smtplib.SMTPResponseException(451, b"Try again later")
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def permanent(message: str = "invalid number") -> SendError:
    return SendError(message, permanent=True)


def temporary(message: str = "provider unavailable") -> SendError:
    return SendError(message)


def send_until_done(batch: int, deadline_seconds: float) -> list[str]:
    """A worker process: batches until nothing is due; the addresses it really sent to."""
    import time

    from django.conf import settings
    from django.core import mail

    from creneau.outreach import sms
    from creneau.outreach.models import Notification
    from creneau.outreach.services import outbox_send

    settings.SMS_BACKEND = "creneau.outreach.sms.MemoryBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    deadline = time.monotonic() + deadline_seconds
    while (
        Notification.objects.filter(status__in=["pending", "sending"]).exists()
        and time.monotonic() < deadline
    ):
        outbox_send(limit=batch)
    return [message.to for message in sms.outbox] + [m.to[0] for m in mail.outbox]


def batch_letters_until_done(limit: int) -> list[int]:
    """A printing process: letter batches until none is left; the letters it took."""
    from creneau.core.errors import InvalidInput
    from creneau.outreach.services import letter_batch_create

    taken = []
    while True:
        try:
            batch = letter_batch_create(actor=Actor(user=None), limit=limit)
        except InvalidInput:  # nothing left to take
            return taken
        taken += list(batch.notifications.values_list("pk", flat=True))


def send_at_rate_for(seconds: float, rate: float, redis_url: str = "") -> list[float]:
    """A worker process sending SMS for `seconds` under a shared rate (counted in Redis
    when `redis_url` is given); when each went."""
    import time

    from django.conf import settings

    from creneau.admission import counters
    from creneau.outreach import sms
    from creneau.outreach.services import outbox_send

    settings.SMS_BACKEND = "tests.outreach.backends.TimedBackend"
    settings.OUTBOX_RATES = {"sms": rate, "email": 0}
    settings.REDIS_URL = redis_url or None
    counters.redis_forget()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = outbox_send(limit=20, seconds=0.5)
        if not report.deliveries:
            time.sleep(report.throttled_for or 0.05)
    return [float(sent.reference) for sent in sms.outbox]


class TimedBackend(MemoryBackend):
    """Keeps when each SMS went (in place of its reference)."""

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        import time

        super().send(to=to, text=text, reference=str(time.time()))
