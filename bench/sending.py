"""The sending phase of the outbox's benchmarks (bench/campaign.py, bench/outbox.py): a
fake SMS provider, and `manage.py worker` processes sending the outbox to it, one of
them killed with SIGKILL mid-run and started again.

The provider is an HTTP server on 127.0.0.1, in the benchmark's process. It takes at
most `rate` messages a second, one every 1/rate s (a request beyond waits its turn), as
a provider's contract imposes; it counts every request and keeps each `Idempotency-Key`
once, with its recipient and when it came. It also keeps each stretch of time it had no
request waiting (its turn came and nobody used it): that capacity is lost for good, so
those stretches are where a sending rate below the limit goes.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from machine import free_port

# A pause this long in the provider's arrivals, once most have come, is the wait for a
# killed worker's stale claims (outreach.services.CLAIM_TIMEOUT): not counted as sending.
TAIL_GAP_SECONDS = 10.0
# Without a new message for this long, the run is given up (the claim timeout, and some).
STALLED_SECONDS = 5 * 60 + 120


class Provider:
    """A throttled SMS provider: at most `rate` messages a second (a request beyond waits
    its turn), every request counted, the first arrival and the recipient of each key,
    and the stretches it stood idle."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.next_turn: float | None = None
        self.requests = 0
        self.first_seen: dict[str, float] = {}  # time.time(), as the workers' rate windows
        self.recipients: dict[str, str] = {}
        self.idle: list[tuple[float, float]] = []  # (from, to), time.time()

    def turn(self) -> None:
        """Wait for this request's turn: at most `rate` a second, as a provider imposes."""
        with self.lock:
            now = time.time()
            if self.next_turn is not None and now > self.next_turn:
                self.idle.append((self.next_turn, now))
            start = now if self.next_turn is None else max(self.next_turn, now)
            self.next_turn = start + 1 / self.rate
        if start > now:
            time.sleep(start - now)

    def take(self, key: str, to: str) -> None:
        with self.lock:
            self.requests += 1
            if key not in self.first_seen:
                self.first_seen[key] = time.time()
                self.recipients[key] = to

    @property
    def unique(self) -> int:
        with self.lock:
            return len(self.first_seen)


def provider_start(provider: Provider) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # a connection serves many messages, as providers do
        # The headers and the body go in two writes: without this, the second waits for
        # the client's delayed ACK (some 40 ms) on a kept-open connection.
        disable_nagle_algorithm = True

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = self.headers.get("Idempotency-Key", "")
            provider.turn()
            if not key:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            provider.take(key, body["to"])
            answer = json.dumps({"id": key}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                # The worker was killed while its message waited its turn: the provider
                # took it; the worker never knew, and its row is sent again later.
                pass

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # The killed worker's kept-open connection reset: expected, not worth a
            # traceback.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    port = free_port()
    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def child_wait(process: subprocess.Popen) -> tuple[int, float, float]:
    """Wait for a child: (exit status, peak MiB, CPU seconds), from its own rusage."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


@dataclass
class Sending:
    """What the provider received from the workers, and what it cost them."""

    rate: float  # the provider's limit, messages a second
    sent_rate: float  # over the steady part: up to the wait for the stale claims
    steady: int  # messages in the steady part
    requests: int
    received: set[str]  # the keys that reached the provider
    duplicates: int  # recipients reached under more than one key, and unknown keys
    missing: int  # keys that never reached it
    after_timeout: int  # messages after the steady part (the killed worker's claims)
    killed_at: int | None  # messages received when a worker was killed
    peaks: list[float]  # each worker process's peak MiB
    cpu: float  # the workers' CPU seconds, all together
    idle: str  # where the provider stood idle during the steady part

    @property
    def redelivered(self) -> int:
        return self.requests - len(self.received)

    def failures(self) -> list[str]:
        failures = []
        if self.missing:
            failures.append(f"{self.missing} SMS never reached the provider")
        if self.duplicates:
            failures.append(f"{self.duplicates} duplicates")
        if self.killed_at is None:
            failures.append("no worker was killed")
        if self.sent_rate <= 0:
            failures.append("no sending rate measured")
        return failures


def idle_described(idle: list[tuple[float, float]], start: float, end: float) -> str:
    """The provider's idle time within [start, end]: how much, in how many stretches, the
    longest, and how much of it in stretches across a second's boundary (when every
    worker waited for the next window of the shared rate)."""
    stretches = [(max(a, start), min(b, end)) for a, b in idle if b > start and a < end]
    total = sum(b - a for a, b in stretches)
    across = sum(b - a for a, b in stretches if int(a) != int(b))
    longest = max((b - a for a, b in stretches), default=0.0)
    span = end - start
    return (
        f"provider idle {total:.2f} s of {span:.1f} s ({100 * total / span if span else 0:.1f} %) "
        f"in {len(stretches)} stretches, the longest {1000 * longest:.0f} ms; "
        f"{across:.2f} s in stretches across a second's boundary"
    )


def workers_send(
    *,
    manage: list[str],
    cwd: Path,
    env: dict[str, str],
    keys: set[str],
    rate: float,
    workers: int,
    unsent: Callable[[], bool],
    logs: Path,
) -> Sending:
    """Start the provider at `rate` and `workers` worker processes sending to it at that
    rate (OUTBOX_RATE_SMS); when half of `keys` have arrived, kill the first worker with
    SIGKILL and start it again. Until every key reached the provider and `unsent()` is
    false (the outbox recorded each as sent: a message the killed worker handed over
    without living to record it is sent again after the claim timeout, under the same
    key), or nothing came for STALLED_SECONDS."""
    provider = Provider(rate)
    server, port = provider_start(provider)
    env = {
        **env,
        "OUTBOX_RATE_SMS": f"{rate:g}",
        "SMS_BACKEND": "creneau.outreach.sms.HttpBackend",
        "SMS_HTTP_URL": f"http://127.0.0.1:{port}/sms",
        "SMS_HTTP_TIMEOUT": "30",
    }
    files = [(logs / f"worker-{n}.log").open("w") for n in range(workers + 1)]

    def worker_start(n: int) -> subprocess.Popen:
        return subprocess.Popen(
            [*manage, "worker", "--limit", "100"],
            cwd=cwd,
            env=env,
            stdout=files[n],
            stderr=subprocess.STDOUT,
        )

    processes = [worker_start(n) for n in range(workers)]
    peaks: list[float] = []
    cpu = 0.0
    killed_at = None
    last_progress, last_unique = time.monotonic(), 0
    while provider.unique < len(keys) or unsent():
        time.sleep(0.5)
        unique = provider.unique
        if unique != last_unique:
            last_progress, last_unique = time.monotonic(), unique
        if killed_at is None and unique >= len(keys) // 2:
            victim = processes[0]
            victim.send_signal(signal.SIGKILL)
            _status, peak, used = child_wait(victim)
            peaks.append(peak)
            cpu += used
            killed_at = unique
            print(f"worker 1 killed (SIGKILL) after {unique:,} SMS; started again", flush=True)
            processes[0] = worker_start(workers)
        if time.monotonic() - last_progress > STALLED_SECONDS:
            break
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        _status, peak, used = child_wait(process)
        peaks.append(peak)
        cpu += used
    server.shutdown()
    for file in files:
        file.close()

    received = set(provider.first_seen)
    by_recipient: dict[str, int] = {}
    for to in provider.recipients.values():
        by_recipient[to] = by_recipient.get(to, 0) + 1
    duplicates = sum(n - 1 for n in by_recipient.values() if n > 1) + len(received - keys)
    arrivals = sorted(provider.first_seen.values())
    # The steady part: up to a pause of TAIL_GAP_SECONDS (the killed worker's stale
    # claims waiting for their timeout), if any.
    end = len(arrivals)
    for n in range(1, len(arrivals)):
        if arrivals[n] - arrivals[n - 1] > TAIL_GAP_SECONDS:
            end = n
            break
    steady = arrivals[:end]
    span = steady[-1] - steady[0] if len(steady) > 1 else 0.0
    return Sending(
        rate=rate,
        sent_rate=(len(steady) - 1) / span if span else 0.0,
        steady=len(steady),
        requests=provider.requests,
        received=received,
        duplicates=duplicates,
        missing=len(keys - received),
        after_timeout=len(arrivals) - end,
        killed_at=killed_at,
        peaks=peaks,
        cpu=cpu,
        idle=idle_described(provider.idle, steady[0], steady[-1]) if span else "",
    )
