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

import http.client
import json
import sys
import threading
import urllib.parse
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

    def close(self) -> None:
        """Let go of what the backend kept open between messages (a connection)."""


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

    def close(self) -> None:
        """Nothing is kept open."""


# What MemoryBackend sent, in order, from every thread of the process. Tests empty it.
outbox: list[Sms] = []


class MemoryBackend:
    def send(self, *, to: str, text: str, reference: str = "") -> None:
        outbox.append(Sms(to=to, text=text, sender=settings.SMS_SENDER, reference=reference))

    def close(self) -> None:
        """Nothing is kept open."""


# 408 (request timeout) and 429 (too many requests) are the 4xx answers that say
# "later"; every other 4xx says the request itself is wrong.
_RETRYABLE_4XX = {408, 429}
# What a connection kept open between two messages says when the provider closed it
# meanwhile (its idle timeout): the message goes again on a new connection.
_CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class HttpBackend:
    """One connection to the provider, kept open (HTTP/1.1) for the messages that follow:
    the worker keeps one backend a batch, so a message costs no new connection (nor TLS
    handshake). A redirect is an answer (http.client never follows one): the bearer token
    and the message go nowhere else."""

    def __init__(self) -> None:
        if not settings.SMS_HTTP_URL:
            raise ImproperlyConfigured("SMS_BACKEND is HttpBackend but SMS_HTTP_URL is not set.")
        self.url = settings.SMS_HTTP_URL
        self.token = settings.SMS_HTTP_TOKEN
        self.timeout = settings.SMS_HTTP_TIMEOUT
        parts = urllib.parse.urlsplit(self.url)
        self._connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._host, self._port = parts.hostname, parts.port
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._connection: http.client.HTTPConnection | None = None

    def send(self, *, to: str, text: str, reference: str = "") -> None:
        payload = {"to": to, "text": text, "sender": settings.SMS_SENDER, "reference": reference}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if reference:
            headers["Idempotency-Key"] = reference
        body = json.dumps(payload).encode()
        reused = self._connection is not None
        try:
            try:
                status, reason, answer = self._post(body, headers)
            except _CLOSED_WHILE_IDLE:
                if not reused:
                    raise
                # Once, on a new connection. Had the provider taken it after all, the
                # idempotency key makes the two one message.
                status, reason, answer = self._post(body, headers)
        except TimeoutError as error:
            raise SendError(f"timeout after {self.timeout} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise SendError(f"connection: {error}") from error
        if 200 <= status < 300:
            return
        detail = answer[:ERROR_LENGTH].decode("utf-8", "replace").strip() or reason
        permanent = 300 <= status < 500 and status not in _RETRYABLE_4XX
        raise SendError(f"HTTP {status}: {detail}", permanent=permanent)

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        if self._connection is None:
            self._connection = self._connection_class(self._host, self._port, timeout=self.timeout)
        try:
            self._connection.request("POST", self._path, body=body, headers=headers)
            response = self._connection.getresponse()
            answer = response.read()  # the whole answer, so that the connection serves again
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, response.reason, answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
