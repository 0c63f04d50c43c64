"""A database down, restarting or locked: every door answers 503 with Retry-After, the API
in JSON and pages in a plain page, never a 500 or a stack trace (issue 14, item 3)."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection
from django.test import RequestFactory

from creneau.core.unavailable import unavailable_response
from creneau.core.views import server_error
from tests.factories import two_dose_site

ROOT = Path(__file__).resolve().parents[2]
MISSING_SITE_API = "/api/v1/sites/999999/slots"
MISSING_SITE_PAGE = "/centres/999999/"


def assert_api_unavailable(response) -> None:
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/json"
    assert "indisponible" in json.loads(response.content)["detail"]


def assert_page_unavailable(response) -> None:
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    page = response.content.decode()
    assert "Service momentanément indisponible" in page
    assert "Traceback" not in page and "OperationalError" not in page


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_database_server_nobody_answers_at_gets_503_on_the_api_and_the_pages():
    """A fresh process whose DATABASE_URL points at a closed port, as after a crash."""
    script = f"""
import json, django
django.setup()
from django.test.utils import setup_test_environment
from django.test import Client
setup_test_environment()
client = Client(raise_request_exception=False)
answers = {{}}
for path in ({MISSING_SITE_API!r}, {MISSING_SITE_PAGE!r}):
    response = client.get(path)
    answers[path] = [response.status_code, response.get("Retry-After"),
                     response["Content-Type"], response.content.decode()]
print(json.dumps(answers))
"""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://creneau@127.0.0.1:{closed_port()}/creneau",
        "DJANGO_SETTINGS_MODULE": "creneau.settings",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    status, retry_after, content_type, body = answers[MISSING_SITE_API]
    assert (status, content_type) == (503, "application/json")
    assert int(retry_after) > 0 and "indisponible" in json.loads(body)["detail"]
    status, retry_after, content_type, body = answers[MISSING_SITE_PAGE]
    assert (status, content_type.split(";")[0]) == (503, "text/html")
    assert int(retry_after) > 0 and "Service momentanément indisponible" in body
    assert "Traceback" not in body and "Traceback" not in done.stderr


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends")
@pytest.mark.django_db(transaction=True)
def test_postgresql_cutting_the_connection_gets_503_and_the_next_request_reconnects(client):
    client.raise_request_exception = False
    assert client.get(MISSING_SITE_API).status_code == 404  # the connection is open
    conninfo = connection.get_connection_params()
    conninfo.pop("cursor_factory", None)
    conninfo.pop("context", None)

    def terminate_our_backend() -> None:
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    try:
        terminate_our_backend()
        assert_api_unavailable(client.get(MISSING_SITE_API))
        assert_page_unavailable(client.get(MISSING_SITE_PAGE))
        # Between two requests Django drops a connection that failed (or, with
        # CONN_HEALTH_CHECKS, one that no longer answers) and opens a new one.
        close_old_connections()
        assert client.get(MISSING_SITE_API).status_code == 404
        terminate_our_backend()  # cut while idle: the health check finds it
        close_old_connections()
        assert client.get(MISSING_SITE_PAGE).status_code == 404
    finally:
        connection.close()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")
def test_sqlite_locked_beyond_the_retries_gets_503_and_nothing_is_held(client, reference_committed):
    client.raise_request_exception = False
    site, session = two_dose_site()
    slot = session.slots.order_by("start").first()
    # Another process holds the write lock; ours gives up after 50 ms instead of 30 s.
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 50")
    locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        assert_api_unavailable(
            client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
        )
        assert_page_unavailable(client.post("/reserver/", {"slot": slot.pk, "site": site.pk}))
        locker.execute("ROLLBACK")
        slot.refresh_from_db()
        assert slot.booked == 0
    finally:
        locker.close()
        connection.close()


def test_a_database_fault_outside_any_view_is_a_503_too():
    """handler500 runs inside Django's except block: a fault in a middleware or while the
    session is saved still gets the 503, and any other error on the API is JSON."""
    factory = RequestFactory()
    try:
        raise OperationalError("the database system is shutting down")
    except OperationalError:
        assert_page_unavailable(server_error(factory.get("/centres/1/")))
        assert_api_unavailable(server_error(factory.get("/api/v1/holds")))
    try:
        raise ValueError("a bug")
    except ValueError:
        answer = server_error(factory.get("/api/v1/holds"))
    assert answer.status_code == 500 and answer["Content-Type"] == "application/json"


def test_clients_turned_away_together_are_told_to_come_back_at_different_seconds(rf, settings):
    # Told the same Retry-After, every client that met an outage at the same moment would
    # come back in step, all of them a whole wait after the database returned.
    settings.DATABASE_RETRY_AFTER_SECONDS = 2
    waits = {
        int(unavailable_response(rf.get("/api/v1/sites"), error=OperationalError())["Retry-After"])
        for _ in range(200)
    }
    assert waits == {1, 2, 3}
