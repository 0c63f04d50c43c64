"""Prometheus metrics, declared here by any app and served at /metrics.

An app declares its own next to the code that moves them::

    from creneau.core import metrics

    BOOKINGS = metrics.counter("bookings", "Series booked (dose 1 and, if any, dose 2).")
    QUEUE = metrics.collected_gauge("queue_length", "People waiting.", read=lambda: [((), n())])

Counters, histograms and gauges are prometheus_client's own, named `creneau_<name>`.
gunicorn runs several worker processes and a scrape reaches only one of them: with
PROMETHEUS_MULTIPROC_DIR set (deploy/gunicorn.conf.py sets and empties it), each process
writes its values to files there and the process that answers the scrape adds them all
up (prometheus_client's multiprocess mode). That was chosen over a push gateway or a
Redis counter because it costs no network round trip on the request path and needs
nothing more than a directory: a counter increment stays a write to shared memory.

A collected gauge is different: its value is read from the database (or Redis) by the
process answering the scrape, e.g. the outbox backlog, so it is the same whichever
process answers and is never summed across processes.
"""

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from creneau.core.errors import DomainError

PREFIX = "creneau_"
P = ParamSpec("P")
R = TypeVar("R")

# (label values, value) pairs, read at scrape time.
Reading = Iterable[tuple[Sequence[str], float]]


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return Counter(PREFIX + name, documentation, labels)


def histogram(
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
) -> Histogram:
    return Histogram(PREFIX + name, documentation, labels, buckets=buckets)


def gauge(
    name: str, documentation: str, labels: Sequence[str] = (), *, aggregate: str = "livesum"
) -> Gauge:
    """A gauge each process sets; `aggregate` says how processes add up ("livesum": the
    sum over live processes, "max", "min", "mostrecent"… as prometheus_client names them)."""
    return Gauge(PREFIX + name, documentation, labels, multiprocess_mode=aggregate)


class _Collected:
    def __init__(self, name: str, documentation: str, labels: Sequence[str], read) -> None:
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def collect(self):
        family = GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family


_collected: dict[str, _Collected] = {}


def collected_gauge(
    name: str, documentation: str, *, read: Callable[[], Reading], labels: Sequence[str] = ()
) -> None:
    """A gauge whose values `read` returns when /metrics is scraped (by one process)."""
    _collected[PREFIX + name] = _Collected(PREFIX + name, documentation, labels, read)


class _Everything:
    """What one scrape shows: every process's counters and this process's readings."""

    def __init__(self) -> None:
        self.source = MultiProcessCollector(None) if multiprocess() else REGISTRY

    def collect(self):
        yield from self.source.collect()
        for collected in _collected.values():
            yield from collected.collect()


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())
    return generate_latest(registry)


REFUSALS = counter(
    "refusals",
    "Requests a business rule refused, by action and reason (the domain error's code).",
    ["action", "reason"],
)


def refusals_counted(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Count the domain errors a service raises (slot taken, not eligible…), whichever
    door called it: portal, call centre or API. Put it outside any retry, so that a
    refusal counts once."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return service(*args, **kwargs)
            except DomainError as error:
                REFUSALS.labels(action, error.code).inc()
                raise

        return run

    return decorate
