"""The waiting room in front of the booking flow: first come, first served, at the
admission rate the operators set (WAITING_ROOM_RATE people a minute; 0 turns it off).

Each visitor without a pass draws a ticket: the next number of a counter every process
shares. An admission frontier moves forward at the rate, by the clock: a ticket at or
below the frontier is admitted and given a pass for the flow (WAITING_ROOM_PASS_MINUTES,
renewed while the visitor is active). Below the rate the frontier is ahead of the
tickets and nobody waits; the frontier never runs more than a few seconds' worth of
admissions ahead (WAITING_ROOM_BURST_SECONDS), so a quiet hour does not let a sudden
crowd in at once.

Before a scheduled opening (WAITING_ROOM_OPENS_AT), visitors are given a random draw
instead of a number; at the opening they are placed, in the order of their draws, before
everyone who comes after: arriving at 7:59:59 gives no advantage over arriving at 7:40.

The ticket and the pass are signed cookies (tickets the server did not sign are worth
nothing, and ten tabs share one cookie, so one place). The counter and the frontier live
in Redis when it is configured (one Lua script: atomic), in the database otherwise (one
conditional UPDATE each), and in the database while Redis does not answer: a ticket
says which store numbered it, and one from the other store is drawn again.
"""

import math
import random
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.core import signing
from django.db import connection

from .counters import counter_add, shared_store
from .models import Room

TICKET_SALT = "creneau.admission.ticket"
PASS_SALT = "creneau.admission.pass"

# Moves the frontier by the clock and answers (frontier, draws before the opening),
# atomically: KEYS[1] the room's hash; ARGV now, rate a second, burst, opens_at.
_ADVANCE = """
local now, rate, burst, opens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'frontier', 'updated', 'issued', 'early')
local frontier, updated = tonumber(state[1]) or 0, tonumber(state[2]) or 0
local issued, early = tonumber(state[3]) or 0, tonumber(state[4]) or 0
local from = math.max(updated, opens)
if now > from then
  frontier = math.min(frontier + rate * (now - from), early + issued + burst)
end
redis.call('HSET', KEYS[1], 'frontier', tostring(frontier), 'updated', tostring(now))
return {tostring(frontier), early}
"""


# Sets the rate from one window's verdict, once: KEYS[1] the room's hash; ARGV the window,
# the verdict (see _rate_followed), the lowest and the highest rate.
_RATE_ADJUST = """
local window, verdict = tonumber(ARGV[1]), ARGV[2]
local low, high = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'rate', 'rate_window', 'ceiling')
local rate, done = tonumber(state[1]) or 0, tonumber(state[2]) or -1
local ceiling = tonumber(state[3]) or 0
if window > done then
  if verdict == 'cut' then
    -- A cut at the floor says nothing of where the knee is: the ceiling stays.
    if rate > low then ceiling = rate end
    rate = rate * %(cut)s
  elseif verdict == 'rise' and ceiling > 0 and rate < ceiling then
    rate = rate + math.max((ceiling - rate) * %(closing)s, ceiling * %(probe)s)
  elseif verdict == 'rise' and ceiling > 0 then
    rate = rate + math.max((rate - ceiling) * %(beyond)s, ceiling * %(probe)s)
  elseif verdict == 'rise' then
    rate = rate * %(start)s
  end
  rate = math.min(math.max(rate, low), high)
  redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'rate_window', window,
    'ceiling', tostring(ceiling))
end
return tostring(math.max(rate, low))
"""
# The measured-capacity mode's window, the share of slow requests that lowers the rate
# (and the share that holds it), and the fewest requests a window needs for its share.
WINDOW_SECONDS = 5
SLOW_SHARE = 0.05
STRAIN_SHARE = 0.01
MIN_SAMPLE = 20
# How the rate moves (see _rate_followed): the cut, the rise before the first cut, the
# share of the gap to the ceiling closed each window, the smallest step near the
# ceiling, and the share by which the distance past it grows each window.
RATE_STEPS = {"cut": 0.85, "start": 1.05, "closing": 0.3, "probe": 0.01, "beyond": 0.5}
_RATE_ADJUST %= RATE_STEPS


@dataclass(frozen=True)
class Ticket:
    # Which store numbered it, in which room: numbers mean nothing in another.
    store: str
    room: str
    # A number in the order of arrival, or, drawn before the opening, a random draw.
    number: int = 0
    draw: float | None = None


@dataclass(frozen=True)
class Decision:
    admitted: bool
    ticket: Ticket | None = None
    # People before this visitor, and the honest wait: that many at the admission rate.
    ahead: int = 0
    wait_seconds: int = 0
    opens_at: datetime | None = None


def waiting_room_enabled() -> bool:
    return settings.WAITING_ROOM_AUTO or settings.WAITING_ROOM_RATE > 0


def pass_valid(signed: str | None) -> bool:
    if not signed:
        return False
    try:
        signing.loads(signed, salt=PASS_SALT, max_age=settings.WAITING_ROOM_PASS_MINUTES * 60)
    except signing.BadSignature:
        return False
    return True


def pass_issue() -> str:
    return signing.dumps(1, salt=PASS_SALT)


def ticket_read(signed: str | None) -> Ticket | None:
    if not signed:
        return None
    try:
        store, room, number, draw = signing.loads(signed, salt=TICKET_SALT, max_age=86400)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return Ticket(store=store, room=room, number=number, draw=draw)


def ticket_sign(ticket: Ticket) -> str:
    return signing.dumps([ticket.store, ticket.room, ticket.number, ticket.draw], salt=TICKET_SALT)


def admission_decide(*, signed_ticket: str | None, now: float | None = None) -> Decision:
    """Admit the visitor holding `signed_ticket` (or none yet), or say how long to wait."""
    now = _clock() if now is None else now
    opens = _opens_at()
    # Each opening has a room of its own: no number drawn for an earlier one counts.
    name = f"booking:{int(opens)}"
    return shared_store(
        on_redis=lambda client: _decide(_RedisRoom(client, name), signed_ticket, now, opens),
        on_database=lambda: _decide(_DatabaseRoom(name), signed_ticket, now, opens),
    )


def _decide(room, signed_ticket: str | None, now: float, opens: float) -> Decision:
    rate = _rate_followed(room, now) if settings.WAITING_ROOM_AUTO else settings.WAITING_ROOM_RATE
    ticket = ticket_read(signed_ticket)
    if ticket is None or (ticket.store, ticket.room) != (room.store, room.name):
        if now < opens:
            ticket = Ticket(store=room.store, room=room.name, draw=random.random())
            room.early_count()
        else:
            ticket = Ticket(store=room.store, room=room.name, number=room.ticket_number())
    frontier, early = room.advance(now=now, opens=opens, rate=rate / 60)
    # Drawn before the opening: placed among the early ones by the draw.
    place = int(ticket.draw * early) + 1 if ticket.draw is not None else early + ticket.number
    opens_at = datetime.fromtimestamp(opens).astimezone() if now < opens else None
    if place <= frontier and opens_at is None:
        return Decision(admitted=True, ticket=ticket)
    ahead = max(int(place - frontier) - 1, 0)
    wait = (opens - now if opens_at else 0) + (ahead + 1) / (rate / 60)
    return Decision(
        admitted=False, ticket=ticket, ahead=ahead, wait_seconds=math.ceil(wait), opens_at=opens_at
    )


def _clock() -> float:
    return time.time()


def _opens_at() -> float:
    opening = settings.WAITING_ROOM_OPENS_AT
    return opening.timestamp() if opening else 0.0


def _rate_followed(room, now: float) -> float:
    """WAITING_ROOM_RATE=auto: the rate follows what the service sustains, judged by the
    time admitted requests took in the last window of WINDOW_SECONDS (latency_record),
    between WAITING_ROOM_RATE_MIN and _MAX. More than SLOW_SHARE of them over
    WAITING_ROOM_LATENCY_TARGET: the rate is cut by 15 %, and the rate it had becomes
    the ceiling (unless it was at the floor). More than STRAIN_SHARE: it holds.
    Otherwise, while people wait, it rises, as TCP's CUBIC does: 5 % a window until the
    first cut, then by 30 % of the gap to the ceiling, slowly (1 % of it) near the
    ceiling, and past it faster each window (the distance past it grows by half), in
    case the ceiling was a passing slowness. Rises that scale with the rate
    (5 % a window, cut by 30 %) overshot at 100 courses/s: the slow requests show a
    window late, by then the rate had passed the knee by several steps (p99 1.8-2.3 s
    at ten times the crowd, bench/rush.py).
    One process applies each window's verdict, by a conditional update of the room."""
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS - WINDOW_SECONDS
    requests = counter_add(key="room:requests", window=WINDOW_SECONDS, amount=0, now=window)
    slow = counter_add(key="room:slow", window=WINDOW_SECONDS, amount=0, now=window)
    measured = requests.hits >= MIN_SAMPLE
    if measured and slow.hits > SLOW_SHARE * requests.hits:
        verdict = "cut"
    elif (measured and slow.hits > STRAIN_SHARE * requests.hits) or not room.waiting():
        verdict = "hold"
    else:
        verdict = "rise"
    return room.rate_adjust(window=window, verdict=verdict)


def latency_record(seconds: float) -> None:
    """How long one admitted request of the booking flow took (GateAnswer calls it in
    the measured-capacity mode)."""
    counter_add(key="room:requests", window=WINDOW_SECONDS)
    if seconds > settings.WAITING_ROOM_LATENCY_TARGET:
        counter_add(key="room:slow", window=WINDOW_SECONDS)


def room_reading() -> tuple[float, float]:
    """(people waiting, admission rate a minute) for the metrics; nothing moves."""
    name = f"booking:{int(_opens_at())}"
    return shared_store(
        on_redis=lambda client: _RedisRoom(client, name).reading(),
        on_database=lambda: _DatabaseRoom(name).reading(),
    )


def _burst(rate: float) -> float:
    return rate * settings.WAITING_ROOM_BURST_SECONDS


class _RedisRoom:
    store = "redis"

    def __init__(self, client: "redis.Redis", name: str) -> None:
        self.client = client
        self.name = name
        self.key = f"creneau:room:{name}"

    def ticket_number(self) -> int:
        return int(self.client.hincrby(self.key, "issued", 1))

    def early_count(self) -> None:
        self.client.hincrby(self.key, "early", 1)

    def advance(self, *, now: float, opens: float, rate: float) -> tuple[float, int]:
        frontier, early = self.client.eval(_ADVANCE, 1, self.key, now, rate, _burst(rate), opens)
        return float(frontier), int(early)

    def _state(self) -> tuple[float, float, float]:
        frontier, issued, early = self.client.hmget(self.key, "frontier", "issued", "early")
        return float(frontier or 0), float(issued or 0), float(early or 0)

    def waiting(self) -> bool:
        frontier, issued, early = self._state()
        return issued + early > frontier

    def rate_adjust(self, *, window: int, verdict: str) -> float:
        low, high = settings.WAITING_ROOM_RATE_MIN, settings.WAITING_ROOM_RATE_MAX
        return float(self.client.eval(_RATE_ADJUST, 1, self.key, window, verdict, low, high))

    def reading(self) -> tuple[float, float]:
        frontier, issued, early = self._state()
        rate = float(self.client.hget(self.key, "rate") or 0)
        return max(issued + early - frontier, 0), _rate_shown(rate)


class _DatabaseRoom:
    """The same state in one row of `Room`; each step one statement, so two processes
    drawing at once get two numbers, and the frontier moves once per instant."""

    store = "db"

    def __init__(self, name: str) -> None:
        self.name = name
        self.table = connection.ops.quote_name(Room._meta.db_table)

    def _returning(self, sql: str, params: list) -> tuple:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            # The room's first visitor: its row is made once, then the same statement
            # (not a read of the row before every statement).
            Room.objects.get_or_create(name=self.name)
            return self._returning(sql, params)
        return row

    def _room(self) -> Room:
        return Room.objects.filter(name=self.name).first() or Room(name=self.name)

    def ticket_number(self) -> int:
        (number,) = self._returning(
            f"UPDATE {self.table} SET issued = issued + 1 WHERE name = %s RETURNING issued",
            [self.name],
        )
        return number

    def early_count(self) -> None:
        self._returning(
            f"UPDATE {self.table} SET early = early + 1 WHERE name = %s RETURNING early",
            [self.name],
        )

    def waiting(self) -> bool:
        room = self._room()
        return room.issued + room.early > room.frontier

    def rate_adjust(self, *, window: int, verdict: str) -> float:
        least, greatest = _least_greatest()
        low, high = settings.WAITING_ROOM_RATE_MIN, settings.WAITING_ROOM_RATE_MAX
        steps = RATE_STEPS
        moved = {
            "cut": f"rate * {steps['cut']}",
            "rise": (
                f"CASE WHEN ceiling = 0 THEN rate * {steps['start']} "
                f"WHEN rate < ceiling THEN rate + {greatest}("
                f"(ceiling - rate) * {steps['closing']}, ceiling * {steps['probe']}) "
                f"ELSE rate + {greatest}("
                f"(rate - ceiling) * {steps['beyond']}, ceiling * {steps['probe']}) END"
            ),
            "hold": "rate",
        }[verdict]
        ceiling = (
            "CASE WHEN rate > %s THEN rate ELSE ceiling END" if verdict == "cut" else "ceiling"
        )
        # Every expression reads the row as it was: the ceiling is the rate before the cut.
        (rate,) = self._returning(
            f"UPDATE {self.table} SET "
            f"rate = CASE WHEN rate_window < %s THEN {least}({greatest}({moved}, %s), %s) "
            "ELSE rate END, "
            f"ceiling = CASE WHEN rate_window < %s THEN {ceiling} ELSE ceiling END, "
            f"rate_window = {greatest}(rate_window, %s) "
            "WHERE name = %s RETURNING rate",
            [window, low, high, window, *([low] if verdict == "cut" else []), window, self.name],
        )
        return max(rate, low)

    def reading(self) -> tuple[float, float]:
        room = self._room()
        return max(room.issued + room.early - room.frontier, 0), _rate_shown(room.rate)

    def advance(self, *, now: float, opens: float, rate: float) -> tuple[float, int]:
        least, greatest = _least_greatest()
        return self._returning(
            f"UPDATE {self.table} SET "
            f"frontier = CASE WHEN %s > {greatest}(updated, %s) THEN {least}("
            f"frontier + %s * (%s - {greatest}(updated, %s)), early + issued + %s) "
            "ELSE frontier END, "
            f"updated = {greatest}(updated, %s) "
            "WHERE name = %s RETURNING frontier, early",
            [now, opens, rate, now, opens, _burst(rate), now, self.name],
        )


def _least_greatest() -> tuple[str, str]:
    # PostgreSQL says LEAST and GREATEST what SQLite says MIN and MAX of two values.
    return ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")


def _rate_shown(stored: float) -> float:
    if not settings.WAITING_ROOM_AUTO:
        return settings.WAITING_ROOM_RATE
    return max(stored, settings.WAITING_ROOM_RATE_MIN)
