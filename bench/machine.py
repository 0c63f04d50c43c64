"""What the benchmarks need to know about the machine they run on: free ports, CPU
ticks (and those the hypervisor stole), a speed check, percentiles."""

import math
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def steal_share(before: list[int]) -> tuple[float, float]:
    """Ticks stolen by the hypervisor since `before`, and all ticks."""
    delta = [b - a for a, b in zip(before, cpu_ticks(), strict=False)]
    return (delta[7] if len(delta) > 7 else 0), sum(delta[:8])


def calibrate() -> float:
    """Milliseconds for a fixed pure-Python loop: how fast this shared machine is right now."""
    best = math.inf
    for _ in range(3):
        began, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i * i % 7
        best = min(best, time.perf_counter() - began)
    return best * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
