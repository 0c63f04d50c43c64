"""The cache shared through Redis (search answers, sessions read through it): Redis
stopping mid-rush slows the service down, it never answers 500."""

import runpy
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from tests.api.test_sites_api import paris_sites  # noqa: F401 (a fixture)

SETTINGS = Path(__file__).resolve().parents[2] / "creneau" / "settings.py"


@pytest.fixture
def redis_cache(redis_up, settings, monkeypatch):
    """The cache exactly as the settings build it when REDIS_URL is set."""
    from creneau.core import cache as tolerant

    monkeypatch.setattr(tolerant, "_down_until", 0.0)
    monkeypatch.setenv("REDIS_URL", redis_up.url)
    settings.CACHES = runpy.run_path(str(SETTINGS))["CACHES"]
    settings.API_CACHE_SECONDS = 1
    return redis_up


def test_search_answers_from_redis_then_without_it_when_it_stops(client, paris_sites, redis_cache):  # noqa: F811
    assert client.get("/api/v1/sites", {"near": "75017"}).status_code == 200
    assert cache.get("missing") is None  # Redis answers

    redis_cache.stop()
    began = time.monotonic()
    for near in ("75017", "75018", "75017"):
        response = client.get("/api/v1/sites", {"near": near})
        assert response.status_code == 200, response.content
        assert response.json()["results"]
    cache.set("key", "value")
    assert cache.get("key") is None  # a miss, not an error
    assert cache.get_many(["key"]) == {}
    assert time.monotonic() - began < 2  # no waiting on a Redis that is gone


def test_the_cache_uses_redis_again_once_it_is_back(db, redis_cache, monkeypatch):
    from creneau.core import cache as tolerant

    redis_cache.stop()
    assert cache.get("key") is None
    redis_cache.start()
    monkeypatch.setattr(tolerant, "_down_until", 0.0)  # the pause after a failure is over
    cache.set("key", "value")
    assert cache.get("key") == "value"
