"""The operators' kit: /healthz, /metrics, the request log (issue 14, item 5)."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from creneau.core.logs import JsonFormatter
from creneau.outreach.models import Notification
from creneau.outreach.services import worker_heartbeat_beat
from tests.api.test_booking_api import book, contact_token
from tests.factories import two_dose_site


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_healthz_is_200_with_every_check_when_the_worker_beats(client):
    worker_heartbeat_beat(worker="host:1")
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["worker"]["ok"] and checks["outbox"]["ok"]
    assert checks["redis"] == {"ok": True, "configured": False}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_is_503_and_says_what_failed_without_a_worker_or_with_a_stuck_outbox(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "error": "no worker has ever started",
    }
    worker_heartbeat_beat(worker="host:1", now=timezone.now() - timedelta(minutes=5))
    assert client.get("/healthz").json()["checks"]["worker"]["error"] == "no heartbeat"
    worker_heartbeat_beat(worker="host:1")
    Notification.objects.create(
        channel="sms",
        to="+33612345678",
        kind="verification_code",
        event="e1",
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    outbox = response.json()["checks"]["outbox"]
    assert outbox["error"] == "messages waiting too long"
    assert outbox["due"] == {"sms": 1, "email": 0, "letter": 0}


@pytest.mark.django_db
def test_metrics_answer_this_machine_and_the_allowed_networks_only(client, settings):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    allowed = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.5", headers={"Authorization": "Bearer s3cret-token"}
    )
    assert allowed.status_code == 200


def test_metrics_count_requests_bookings_holds_refusals_and_the_outbox(
    client, reference, settings, django_capture_on_commit_callbacks
):
    """Bookings and holds count once committed (on_commit: a rolled-back one never)."""
    settings.DEMO = True  # the code is read from the demo outbox
    _site, session = two_dose_site()
    slots = list(session.slots.order_by("start"))
    before = scrape(client)
    token = contact_token(client)
    with django_capture_on_commit_callbacks(execute=True):
        assert book(client, slots[0].pk, token).status_code == 201
    refused = client.post("/api/v1/holds", {"slot_id": 999999}, "application/json")
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("creneau_bookings_total") == 1
    assert grew("creneau_holds_total") == 1
    assert grew("creneau_refusals_total", action="hold", reason=refused.json()["code"]) == 1
    route = "/api/v1/holds"
    assert grew("creneau_http_requests_total", route=route, method="POST", status="201") == 1
    # The code's SMS and the booking's confirmation, waiting for the worker.
    assert metric(after, "creneau_outbox_due", channel="sms") == 2
    assert metric(after, "creneau_worker_seconds_since_heartbeat") == -1


def log_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "creneau.request"
    ]


@pytest.mark.django_db
def test_one_json_line_per_request_with_the_route_never_the_token_or_query(client, caplog):
    caplog.set_level(logging.INFO, logger="creneau.request")
    client.get("/reprendre/SECRET-TOKEN-123/?phone=0612345678")
    client.get("/api/v1/sites/999999/slots?dose=1", headers={"X-Request-ID": "proxy-abc.1"})
    client.get("/no/such/page/0612345678", headers={"X-Request-ID": "bad id\nforged"})
    rebook, api, unknown = log_lines(caplog)
    assert rebook["route"] == "/reprendre/<str:token>/"
    assert rebook["method"] == "GET" and isinstance(rebook["duration_ms"], float)
    assert api == api | {"route": "/api/v1/sites/<int:site_id>/slots", "status": 404}
    assert api["request_id"] == "proxy-abc.1"
    assert unknown["route"] == "unmatched" and re.fullmatch(r"[0-9a-f]{32}", unknown["request_id"])
    written = json.dumps(log_lines(caplog))
    assert "SECRET" not in written and "0612345678" not in written and "dose=" not in written


@pytest.mark.django_db
def test_the_answer_carries_the_request_id(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"


def test_swagger_ui_comes_from_our_static_files_not_a_cdn(client):
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
