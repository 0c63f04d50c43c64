"""Sending SMS: one small interface, the backend chosen by `settings.SMS_BACKEND`.

A backend has one method, `send(to=…, text=…, reference=…)`, that returns when the
provider took the message and raises `SendError` otherwise, saying whether trying again
later may help (`permanent=False`) or not. `reference` is the outbox row's id: the
provider's idempotency key (a message sent again after a worker died is one message) and
what its delivery receipts name (the webhook, outreach/webhooks.py). Shipped backends:

- `ConsoleBackend`: writes each SMS to standard output (demo, development), like
  Django's console e-mail backend.
- `MemoryBackend`: keeps them in `creneau.outreach.sms.outbox` (tests), like Django's
  locmem e-mail backend.
- `HttpBackend`: a generic HTTP JSON provider: `POST SMS_HTTP_URL` with
  `{"to": "+336…", "text": "…", "sender": SMS_SENDER, "reference": "<id>"}`,
  `Idempotency-Key: <id>` and `Authorization: Bearer SMS_HTTP_TOKEN`.
"""

import json
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

ERROR_LENGTH = 200


class SendError(Exception):
    """The provider did not take the message. `permanent`: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message[:ERROR_LENGTH])
        self.permanent = permanent


class SmsBackend(Protocol):
    def send(self, *, to: str, text: str, reference: str = "") -> None: ...


def sms_backend() -> SmsBackend:
    """A new instance of the configured backend."""
    return import_string(settings.SMS_BACKEND)()


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    sender: str
    reference: str = ""


class ConsoleBackend:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        with self._lock:
            self.stream.write(f"SMS from {settings.SMS_SENDER} to {to}\n{text}\n{'-' * 40}\n")
            self.stream.flush()


# What MemoryBackend sent, in order, from every thread of the process. Tests empty it.
outbox: list[Sms] = []


class MemoryBackend:
    def send(self, *, to: str, text: str, reference: str = "") -> None:
        outbox.append(Sms(to=to, text=text, sender=settings.SMS_SENDER, reference=reference))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to send the bearer token and the message."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# 408 (request timeout) and 429 (too many requests) are the 4xx answers that say
# "later"; every other 4xx says the request itself is wrong.
_RETRYABLE_4XX = {408, 429}


class HttpBackend:
    def __init__(self) -> None:
        if not settings.SMS_HTTP_URL:
            raise ImproperlyConfigured("SMS_BACKEND is HttpBackend but SMS_HTTP_URL is not set.")
        self.url = settings.SMS_HTTP_URL
        self.token = settings.SMS_HTTP_TOKEN
        self.timeout = settings.SMS_HTTP_TIMEOUT
        self.opener = urllib.request.build_opener(_NoRedirect)

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        payload = {"to": to, "text": text, "sender": settings.SMS_SENDER, "reference": reference}
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if reference:
            request.add_header("Idempotency-Key", reference)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as answer:
            detail = _read_detail(answer)
            code = answer.code
            permanent = 300 <= code < 500 and code not in _RETRYABLE_4XX
            raise SendError(f"HTTP {code}: {detail}", permanent=permanent) from answer
        except TimeoutError as error:
            raise SendError(f"timeout after {self.timeout} s") from error
        except urllib.error.URLError as error:
            raise SendError(f"connection: {error.reason}") from error
        except OSError as error:  # reset by peer while reading, and the like
            raise SendError(f"connection: {error}") from error


def _read_detail(answer: urllib.error.HTTPError) -> str:
    try:
        return answer.read(ERROR_LENGTH).decode("utf-8", "replace").strip() or answer.reason
    except OSError:
        return str(answer.reason)
