"""gunicorn or granian? Requests per second on a simple page and on the search API.

Serves the demo database (run `make demo` once first) with each server, the same number
of worker processes, and hits it from this machine with `--clients` concurrent
connections (one request per connection, as a proxy without keep-alive to the app does)
for `--seconds` per case. Prints one line per server and page, then the figures for
docs/operations.md.

    .venv/bin/pip install granian && .venv/bin/python bench/servers.py
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
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
    figures = []
    for server in args.servers.split(","):
        port = free_port()
        process = subprocess.Popen(
            command(server, port, args.workers), cwd=ROOT, env=env, start_new_session=True
        )
        try:
            for _ in range(150):
                with contextlib.suppress(OSError):
                    if asyncio.run(one(port, "/")) == 200:
                        break
                time.sleep(0.2)
            for name, path in PAGES.items():
                asyncio.run(load(port, path, args.clients, 2))  # warm every worker
                rate, errors = asyncio.run(load(port, path, args.clients, args.seconds))
                figures.append((server, name, rate, errors))
                print(f"{server:<9} {name:<12} {rate:7.0f} requests/s  ({errors} not 200)")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    print(
        f"servers: {args.workers} workers each, {args.clients} clients, "
        f"{args.seconds:.0f} s per case, {os.cpu_count()} cores; "
        + "; ".join(f"{s} {n} {r:.0f}/s" for s, n, r, _ in figures)
    )
    if shutil.which("granian") is None and "granian" in args.servers:
        print("(granian is run as `python -m granian`; pip install granian to compare)")


if __name__ == "__main__":
    main()
