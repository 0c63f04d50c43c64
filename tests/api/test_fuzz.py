"""Inputs generated from the OpenAPI document: whatever a client sends, never a 500."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from creneau.wsgi import application
from tests.factories import deliver, make_site, open_session

# Serving the OpenAPI document touches no table, so it can be read at collection time.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def open_site(reference):
    site = make_site()
    deliver(site, 1000)
    open_session(site)
    # As Django's test client does: the request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield site
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_every_generated_request_without_a_server_error(open_site, case):
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
        assert response.json()["detail"], response.text
