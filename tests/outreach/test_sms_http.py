"""HttpBackend against a real HTTP server on 127.0.0.1 (no mock of urllib): what it
sends, and how each kind of answer is classified."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from creneau.outreach.models import Notification
from creneau.outreach.services import outbox_send
from creneau.outreach.sms import HttpBackend, SendError

PHONE = "+33612345678"


class Provider(BaseHTTPRequestHandler):
    """Answers by path: /ok 200, /invalid 400, /busy 429, /down 503, /slow 200 after 2 s,
    /moved 302, /flaky 503 then 200."""

    received: list[dict] = []
    flaky_calls = 0

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Provider.received.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "body": json.loads(self.rfile.read(length)),
            }
        )
        if self.path == "/slow":
            time.sleep(2)
        if self.path == "/flaky":
            Provider.flaky_calls += 1
        status, answer = {
            "/ok": (200, {"id": "msg-1"}),
            "/slow": (200, {"id": "late"}),
            "/invalid": (400, {"error": "invalid destination number"}),
            "/busy": (429, {"error": "slow down"}),
            "/down": (503, {"error": "maintenance"}),
            "/moved": (302, {}),
            "/flaky": (503, {}) if Provider.flaky_calls == 1 else (201, {"id": "msg-2"}),
        }[self.path]
        payload = json.dumps(answer).encode()
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider(settings):
    Provider.received = []
    Provider.flaky_calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    server.daemon_threads = True
    server.block_on_close = False  # the slow answer is abandoned, not waited for
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.SMS_BACKEND = "creneau.outreach.sms.HttpBackend"
    settings.SMS_HTTP_TOKEN = "secret-token"
    settings.SMS_HTTP_TIMEOUT = 0.5
    settings.SMS_SENDER = "Creneau"
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def backend(path: str) -> HttpBackend:
        settings.SMS_HTTP_URL = base + path
        return HttpBackend()

    yield backend
    server.shutdown()
    server.server_close()


def test_a_2xx_answer_is_sent_with_the_json_body_and_the_bearer_token(provider):
    provider("/ok").send(to=PHONE, text="Créneau : rendez-vous confirmé.", reference="42")
    assert Provider.received == [
        {
            "path": "/ok",
            "authorization": "Bearer secret-token",
            "content_type": "application/json",
            # The outbox row's id: the provider's idempotency key, named by its receipts.
            "idempotency_key": "42",
            "body": {
                "to": PHONE,
                "text": "Créneau : rendez-vous confirmé.",
                "sender": "Creneau",
                "reference": "42",
            },
        }
    ]


@pytest.mark.parametrize(
    ("path", "permanent", "error"),
    [
        ("/invalid", True, 'HTTP 400: {"error": "invalid destination number"}'),
        ("/moved", True, "HTTP 302: {}"),
        ("/busy", False, 'HTTP 429: {"error": "slow down"}'),
        ("/down", False, 'HTTP 503: {"error": "maintenance"}'),
        ("/slow", False, "timeout after 0.5 s"),
    ],
)
def test_4xx_is_a_permanent_failure_429_5xx_and_timeouts_are_retried(
    provider, path, permanent, error
):
    backend = provider(path)
    started = time.monotonic()
    with pytest.raises(SendError) as refusal:
        backend.send(to=PHONE, text="Bonjour")
    assert (refusal.value.permanent, str(refusal.value)) == (permanent, error)
    assert time.monotonic() - started < 1.5
    # A redirect is not followed: the token and the message stay with the provider.
    assert [r["path"] for r in Provider.received] == [path]


def test_a_provider_that_refuses_connections_is_retried(settings):
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{port}/sms"
    with pytest.raises(SendError) as refusal:
        HttpBackend().send(to=PHONE, text="Bonjour")
    assert not refusal.value.permanent
    assert str(refusal.value).startswith("connection:")


def test_without_a_url_the_http_backend_refuses_to_start(settings):
    settings.SMS_HTTP_URL = ""
    with pytest.raises(ImproperlyConfigured):
        HttpBackend()


def test_through_the_worker_a_503_is_retried_and_then_sent_once(db, provider):
    provider("/flaky")
    row = Notification.objects.create(
        channel="sms",
        to=PHONE,
        kind="verification_code",
        event="verification:1",
        parameters={"minutes": 10},
        derived={"code": ["verification_code", "v1"]},
    )
    now = timezone.now()
    assert outbox_send(now=now).retried == 1
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("pending", "HTTP 503: {}")
    assert outbox_send(now=row.next_attempt_at).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(Provider.received) == 2


class KeptOpen(Provider):
    """Provider, over HTTP/1.1 connections it keeps open, closed after 0.3 s idle."""

    protocol_version = "HTTP/1.1"
    timeout = 0.3
    connections = 0

    def setup(self):
        super().setup()
        KeptOpen.connections += 1


def test_messages_share_a_kept_open_connection_and_one_closed_while_idle_is_reopened(
    settings,
):
    Provider.received = []
    KeptOpen.connections = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeptOpen)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{server.server_address[1]}/ok"
    try:
        backend = HttpBackend()
        backend.send(to=PHONE, text="Un", reference="1")
        backend.send(to=PHONE, text="Deux", reference="2")
        assert KeptOpen.connections == 1
        time.sleep(0.8)  # the provider hangs up the idle connection
        backend.send(to=PHONE, text="Trois", reference="3")
        backend.close()
    finally:
        server.shutdown()
        server.server_close()
    assert KeptOpen.connections == 2
    assert [r["idempotency_key"] for r in Provider.received] == ["1", "2", "3"]
