"""The booking path's counters (served at /metrics; creneau/core/metrics.py)."""

from creneau.core import metrics

BOOKINGS = metrics.counter("bookings", "Series booked (a replayed request is not a new one).")
HOLDS = metrics.counter("holds", "Places held while someone types their details.")
