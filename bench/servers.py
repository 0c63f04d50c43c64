"""gunicorn or granian? Requests per second on a simple page and on the search API.

Serves the demo database (run `make demo` once first) with each server, the same number
of worker processes, and hits it from this machine with `--clients` concurrent
connections (one request per connection, as a proxy without keep-alive to the app does),
the servers taking turns for `--rounds` rounds of `--seconds` per case. Prints one line
per case, then the medians for docs/operations.md.

    .venv/bin/pip install granian && .venv/bin/python bench/servers.py
"""

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"home page": "/", "search API": "/api/v1/sites?near=75017&limit=10"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(server: str, port: int, workers: int) -> list[str]:
    if server == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "creneau.wsgi:application",
    ]


async def one(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    await reader.read()
    writer.close()
    return status


async def load(port: int, path: str, clients: int, seconds: float) -> tuple[float, int]:
    done = errors = 0
    deadline = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done, errors
        while time.monotonic() < deadline:
            try:
                status = await one(port, path)
            except OSError:
                status = 0
            done += status == 200
            errors += status != 200

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.monotonic() - started), errors


def cpu_seconds(session: int) -> float:
    """CPU time used so far by every live process of a server's session (master, workers,
    their threads)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == session:  # the session id
                    total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def start(server: str, workers: int, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        command(server, port, workers), cwd=ROOT, env=env, start_new_session=True
    )
    for _ in range(150):
        with contextlib.suppress(OSError):
            if asyncio.run(one(port, "/")) == 200:
                return process, port
        time.sleep(0.2)
    raise SystemExit(f"{server} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5, help="per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="gunicorn,granian")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}"),
        "CRENEAU_DEMO": "1",
        "DEBUG": "0",
        "SECRET_KEY": "bench",
        "API_CACHE_SECONDS": "0",  # measure the server and the app, not the cache
    }
    env.pop("PYTEST_VERSION", None)
    servers = args.servers.split(",")
    running = {server: start(server, args.workers, env) for server in servers}
    rates: dict[tuple[str, str], list[float]] = {}
    costs: dict[tuple[str, str], list[float]] = {}
    try:
        # Both servers run side by side and take turns, round after round: a shared
        # machine's background load then weighs on each alike.
        for _process, port in running.values():
            for path in PAGES.values():
                asyncio.run(load(port, path, args.clients, 2))  # warm every worker
        for round_number in range(1, args.rounds + 1):
            for server, (process, port) in running.items():
                for name, path in PAGES.items():
                    cpu = cpu_seconds(process.pid)
                    rate, errors = asyncio.run(load(port, path, args.clients, args.seconds))
                    per_request = (cpu_seconds(process.pid) - cpu) / (rate * args.seconds)
                    rates.setdefault((server, name), []).append(rate)
                    costs.setdefault((server, name), []).append(per_request * 1000)
                    print(
                        f"round {round_number}: {server:<9} {name:<12} {rate:7.0f} "
                        f"requests/s, {per_request * 1000:5.1f} ms CPU each ({errors} not 200)"
                    )
    finally:
        for process, _port in running.values():
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    print(
        f"servers: {args.workers} workers each, {args.clients} clients, {args.rounds} rounds of "
        f"{args.seconds:.0f} s, {os.cpu_count()} cores, median requests/s (CPU per request): "
        + "; ".join(
            f"{s} {n} {statistics.median(r):.0f} ({statistics.median(costs[s, n]):.1f} ms CPU)"
            for (s, n), r in rates.items()
        )
    )


if __name__ == "__main__":
    main()
