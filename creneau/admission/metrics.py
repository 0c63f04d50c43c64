"""The waiting room's figures at /metrics (creneau/core/metrics.py)."""

from django.conf import settings

from creneau.core import metrics

from .waiting_room import room_reading, waiting_room_enabled

ADMITTED = metrics.counter("waiting_room_admitted", "People the waiting room let into the flow.")
TOLD_TO_WAIT = metrics.counter("waiting_room_waits", "Answers that told someone to wait.")


def _reading(index: int):
    return [((), room_reading()[index])] if waiting_room_enabled() else []


metrics.collected_gauge(
    "waiting_room_queue_length", "People waiting for their turn.", read=lambda: _reading(0)
)
metrics.collected_gauge(
    "waiting_room_rate",
    "People admitted a minute (set, or followed from the measured capacity).",
    read=lambda: _reading(1),
)
metrics.collected_gauge(
    "waiting_room_latency_target_seconds",
    "The time an admitted request should take at most (measured-capacity mode).",
    read=lambda: [((), settings.WAITING_ROOM_LATENCY_TARGET)] if settings.WAITING_ROOM_AUTO else [],
)
