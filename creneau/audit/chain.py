"""The hashes of the audit chain: what is hashed, and how, in one place for the writer
(`services`), the verifier (`selectors`) and the migration that chained the events
written before the chain existed. Pure functions of the values the database returns.

An event's link hashes the previous link's hash, the link's place (day, shard, sequence
number) and a canonical serialisation of every column of the event, its id included:
changing a field, moving an event to another place, or pointing a link at another event
all change the hash. SHA-256 without a key, so that anyone holding a copy of the tables
(an auditor) can check them; what a key would add against someone who can rewrite the
tables and recompute the chain is given instead by the seals kept outside the database
(see docs/architecture.md, "The audit log").
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

# Every column of audit_auditevent, in a fixed order. A new column must be added here,
# or it would not be protected (tests/audit/test_audit_chain.py checks the list).
EVENT_FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "site_id",
    "department_id",
    "ip",
    "user_agent",
    "summary",
    "details",
)
# The previous hash of a chain's first link.
GENESIS = "0" * 64


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if value is None or isinstance(value, int | str | dict | list | bool | float):
        return value
    return str(value)  # an address the driver returns as an object


def event_canonical(event: Mapping[str, Any]) -> bytes:
    """The event's columns as one JSON text: a fixed order, keys sorted inside `details`,
    UTC times to the microsecond."""
    return json.dumps(
        [_value(event[name]) for name in EVENT_FIELDS],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def link_hash(*, previous: str, day: date, shard: int, seq: int, event: Mapping[str, Any]) -> str:
    place = f"{previous}|{day.isoformat()}|{shard}|{seq}|".encode()
    return hashlib.sha256(place + event_canonical(event)).hexdigest()


def seal_hash(*, previous: str, day: date, heads: Mapping[str, list]) -> str:
    """A day's seal: the previous seal's hash, the day, and each chain's head (shard ->
    [sequence number, hash]), so that the seals form a chain of their own."""
    text = json.dumps([previous, day.isoformat(), heads], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
