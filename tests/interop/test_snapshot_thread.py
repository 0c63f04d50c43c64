"""The snapshot of other platforms is read again by a thread of the process's own: a
search during that read answers at once from the previous snapshot, the new one is used
once read, and a failed read is logged and tried again later, never raised to a search.
On committed data (the thread has its own connection)."""

import threading
import time

import pytest

from creneau.interop import snapshot
from creneau.interop.selectors import external_search
from creneau.interop.services import (
    feed_import,
    platform_external_sites_confirm,
    platform_register,
)
from creneau.interop.snapshot import _thread_start as in_a_thread
from tests.factories import STAFF

from .test_import import PARIS, _good_feed
from .test_search_queries import more_places_imported


@pytest.fixture
def platform(reference_committed, feed_server, monkeypatch):
    monkeypatch.setattr(snapshot, "_thread_start", in_a_thread)
    platform = platform_register(
        actor=STAFF, name="Rdv Exemple", manifest_url=_good_feed(feed_server)
    )
    assert feed_import(platform_id=platform.pk).error == ""
    platform_external_sites_confirm(actor=STAFF, platform_id=platform.pk)
    return platform


def _places() -> list[int]:
    return [r.available_slots for r in external_search(origin=PARIS, radius_km=20)]


def _wait_for(condition) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the snapshot's thread did not finish"
        time.sleep(0.01)


def test_a_search_during_a_read_answers_at_once_from_the_previous_snapshot(
    platform, feed_server, monkeypatch
):
    assert _places() == [4, 2]  # the process's first read: in the search, waited for
    previous = snapshot._current
    load = snapshot._load
    started, release = threading.Event(), threading.Event()
    reads = []

    def blocked(version):
        reads.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        return load(version)

    monkeypatch.setattr(snapshot, "_load", blocked)
    more_places_imported(feed_server, platform)

    begun = time.monotonic()
    during = [_places() for _ in range(5)]
    assert time.monotonic() - begun < 2  # the read is blocked: no search waited for it
    assert during == [[4, 2]] * 5
    assert started.wait(5)
    assert reads == ["interop-snapshot"]  # one read, in its own thread, for five searches
    assert snapshot._current is previous

    release.set()
    _wait_for(lambda: snapshot._current is not previous and not snapshot._rebuilding)
    assert _places() == [2, 6]
    assert reads == ["interop-snapshot"]


def test_a_failed_read_is_logged_and_tried_again_later(platform, feed_server, monkeypatch, caplog):
    assert _places() == [4, 2]
    load = snapshot._load
    attempts = []

    def failing(version):
        attempts.append(version)
        if len(attempts) == 1:
            raise RuntimeError("database gone")
        return load(version)

    monkeypatch.setattr(snapshot, "_load", failing)
    more_places_imported(feed_server, platform)
    assert _places() == [4, 2]
    _wait_for(lambda: not snapshot._rebuilding)
    assert "could not be read again" in caplog.text and "database gone" in caplog.text
    # Not tried again by every search meanwhile...
    assert _places() == [4, 2] and len(attempts) == 1
    # ...but once RETRY_SECONDS have passed.
    monkeypatch.setattr(snapshot, "_retry_at", 0.0)
    assert _places() == [4, 2]
    _wait_for(lambda: len(attempts) == 2 and not snapshot._rebuilding)
    assert _places() == [2, 6]
