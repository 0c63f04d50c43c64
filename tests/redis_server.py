"""A throwaway Redis for the tests that need one (limits, waiting room): Debian's
redis-server, installed when missing."""

import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from creneau.admission import counters


def _redis_server_binary() -> str:
    """Debian's redis-server, installed when missing: a test that needs Redis never skips."""
    found = shutil.which("redis-server")
    if found is None:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"],
            check=False,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        found = shutil.which("redis-server")
    if found is None:
        pytest.fail("redis-server is missing and could not be installed (apt-get install)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throwaway Redis on a private port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.binary = _redis_server_binary()
        self.port = _free_port()
        self.directory = tempfile.mkdtemp(prefix="creneau-redis-")
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def redis_up(redis_server):
    """Redis running (a test before may have stopped it) and empty."""
    if redis_server.process is None:
        redis_server.start()
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    return redis_server


@pytest.fixture
def with_redis(redis_up, settings):
    """The counters in Redis, as in production, through a fresh client."""
    redis_server = redis_up
    settings.REDIS_URL = redis_server.url
    counters.redis_forget()
    yield redis_server
    counters.redis_forget()
