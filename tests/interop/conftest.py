import pytest

from .feed_server import FeedServer


@pytest.fixture
def feed_server(settings):
    """A local HTTP server on 127.0.0.1 for this test's feeds."""
    server = FeedServer()
    # Our own network is refused unless listed: this test's server, on its port only.
    settings.INTEROP_PRIVATE_HOSTS = frozenset({f"127.0.0.1:{server.port}"})
    yield server
    server.close()
