"""A throwaway Redis for the tests that need one (limits, waiting room): Debian's
redis-server, installed when missing."""

import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis

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
        self.directory = tempfile.mkdtemp(prefix="creneau-redis-")
        self.process: subprocess.Popen | None = None
        self.started = False
        self._take_port(_free_port())

    def _take_port(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        """Start on the port, or on the first start on another one: a port found free
        can be taken before redis-server binds it (another pytest-xdist worker starting
        its own Redis). Later starts (a test stopped it) keep the port its URL names."""
        for _ in range(1 if self.started else 5):
            if self._start_on_port():
                self.started = True
                return
            self._take_port(_free_port())
        pytest.fail(f"redis-server did not start on port {self.port}")

    def _start_on_port(self) -> bool:
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
        # Started when the server answering on the port is this process: another one there
        # would answer too, and two workers' tests would empty each other's data.
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1) as client:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if client.info("server")["process_id"] == self.process.pid:
                        return True
                except redis.RedisError:
                    pass
                time.sleep(0.05)
        self.stop()
        return False

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
