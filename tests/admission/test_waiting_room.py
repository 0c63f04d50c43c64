"""The waiting room of issue 14: nobody waits below the admission rate; above it,
first come first served with an honest wait; before an opening, a random order; the
same ticket in ten tabs; pages and API alike; staff never queue."""

import itertools
import logging
import random
import re
import socket
import time
from datetime import datetime

import pytest

from creneau.admission import waiting_room
from creneau.admission.counters import counter_add
from creneau.admission.gate import PASS_COOKIE, PASS_HEADER, TICKET_COOKIE, TICKET_HEADER
from creneau.admission.waiting_room import (
    WINDOW_SECONDS,
    admission_decide,
    room_reading,
    ticket_sign,
)
from tests.factories import two_dose_site

T0 = 1_900_000_000.0


@pytest.fixture(params=["database", "redis"])
def room(request, settings, db):
    """A room admitting one person a second, two seconds' worth at once, kept in the
    database or in Redis."""
    if request.param == "redis":
        request.getfixturevalue("with_redis")
    settings.WAITING_ROOM_RATE = 60
    settings.WAITING_ROOM_BURST_SECONDS = 2
    settings.WAITING_ROOM_OPENS_AT = None
    settings.WAITING_ROOM_AUTO = False
    return settings


def arrive(now: float, ticket: str | None = None):
    decision = admission_decide(signed_ticket=ticket, now=now)
    return decision, ticket_sign(decision.ticket)


def test_below_the_rate_nobody_waits(room):
    for second in range(20):
        decision, _ = arrive(T0 + second)
        assert decision.admitted


def test_above_the_rate_people_wait_their_turn_and_are_told_how_long(room):
    first_three = [arrive(T0)[0].admitted for _ in range(3)]
    assert first_three == [True, True, True]
    fourth, ticket = arrive(T0)
    fifth, _ = arrive(T0)
    assert not fourth.admitted and fourth.ahead == 0
    assert (fifth.ahead, fifth.wait_seconds) == (1, 2)
    # Refreshing does not move one forward…
    assert not arrive(T0 + 0.5, ticket)[0].admitted
    # …and one's turn comes by the clock, at the rate.
    assert arrive(T0 + 1, ticket)[0].admitted


def test_people_are_admitted_in_the_order_they_came(room):
    tickets = [arrive(T0)[1] for _ in range(60)]
    admitted_at = {}
    for tick in range(1, 80):
        # Each second, everyone still waiting asks, in any order.
        waiting = [n for n in range(60) if n not in admitted_at]
        random.shuffle(waiting)
        for n in waiting:
            if arrive(T0 + tick, tickets[n])[0].admitted:
                admitted_at[n] = tick
    assert len(admitted_at) == 60
    order = [admitted_at[n] for n in range(60)]
    inversions = sum(1 for a, b in itertools.pairwise(order) if a > b)
    assert inversions == 0
    # One a second, as set: 60 people in about a minute.
    assert max(order) <= 60


def test_before_the_opening_everyone_waits_and_is_then_admitted_in_a_random_order(room):
    opening = datetime.fromtimestamp(T0 + 3600).astimezone()
    room.WAITING_ROOM_OPENS_AT = opening
    early = [arrive(T0 + n)[1] for n in range(40)]
    waiting, _ = arrive(T0 + 50)
    assert not waiting.admitted and waiting.opens_at == opening
    late = arrive(T0 + 3600 + 1)[1]
    admitted_at = {}
    for tick in range(0, 60):
        for n, ticket in enumerate([*early, late]):
            if n not in admitted_at and arrive(T0 + 3600 + tick, ticket)[0].admitted:
                admitted_at[n] = tick
    assert len(admitted_at) == 41
    # The one who came after the opening comes after everyone who waited before it…
    assert admitted_at[40] == max(admitted_at.values())
    # …and coming early was no advantage: the order among them is not the order of arrival.
    early_order = sorted(range(40), key=lambda n: admitted_at[n])
    assert early_order != list(range(40))


def test_a_forged_or_foreign_ticket_is_a_new_arrival(room):
    for _ in range(5):
        arrive(T0)
    decision, _ = arrive(T0, "forged:ticket")
    assert decision.ahead == 2


# Pages and API ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The waiting room's clock, which a test moves on."""
    now = [T0]
    monkeypatch.setattr(waiting_room, "_clock", lambda: now[0])
    return now


@pytest.fixture
def full_room(room, reference, clock):
    """The room already full: a rate of one a minute, and three people waiting."""
    room.WAITING_ROOM_RATE = 1
    room.WAITING_ROOM_BURST_SECONDS = 0
    for _ in range(4):
        admission_decide(signed_ticket=None)
    site, session = two_dose_site()
    return site, session


def test_the_site_page_shows_the_waiting_room_with_the_position_announced(client, full_room):
    site, _ = full_room
    page = client.get(f"/centres/{site.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Salle d'attente" in html
    assert re.search(
        r'role="status" aria-live="polite"[^>]*>\s*3 personnes passent avant vous', html
    )
    assert "Attente estimée : environ 4 minutes" in html
    # Without JavaScript the page refreshes itself; with it, htmx asks.
    assert 'http-equiv="refresh"' in html and "hx-trigger" in html
    assert page["Cache-Control"] == "no-store"
    assert TICKET_COOKIE in page.cookies
    # Ten tabs: the same ticket, the same place.
    again = client.get(f"/centres/{site.pk}/").content.decode()
    assert "3 personnes passent avant vous" in again


def test_once_admitted_the_pass_opens_every_step(client, full_room, clock):
    site, _ = full_room
    client.get(f"/centres/{site.pk}/")
    # Four minutes on: everyone ahead went through, and this visitor's turn came.
    clock[0] += 4 * 60
    moved_on = client.get("/file-attente/", {"suivant": f"/centres/{site.pk}/"})
    assert moved_on.status_code == 302 and moved_on["Location"] == f"/centres/{site.pk}/"
    assert PASS_COOKIE in moved_on.cookies
    # Others arrive behind; the pass still opens the pages.
    for _ in range(5):
        admission_decide(signed_ticket=None)
    assert "Salle d'attente" not in client.get(f"/centres/{site.pk}/").content.decode()


def test_the_waiting_page_never_sends_elsewhere(client, full_room):
    answer = client.get("/file-attente/", {"suivant": "https://evil.example/"})
    assert "https://evil.example" not in answer.content.decode()


def test_staff_pages_never_queue(client, full_room):
    assert client.get("/backoffice/connexion/").status_code == 200


def test_the_api_answers_503_with_retry_after_and_a_ticket(client, full_room, clock):
    _, session = full_room
    slot = session.slots.order_by("start").first()
    waiting = client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
    assert waiting.status_code == 503
    body = waiting.json()
    assert body["code"] == "waiting_room" and body["ahead"] == 3
    assert 0 < int(waiting["Retry-After"]) <= 60
    ticket = waiting[TICKET_HEADER]
    assert body["ticket"] == ticket
    # Its turn come, the same ticket gets through (a client that keeps no cookies).
    client.cookies.clear()
    clock[0] += 4 * 60
    held = client.post(
        "/api/v1/holds", {"slot_id": slot.pk}, "application/json", HTTP_X_QUEUE_TICKET=ticket
    )
    assert held.status_code == 201
    assert held[PASS_HEADER]


def test_the_portal_search_queues_and_its_home_page_does_not(client, full_room):
    home = client.get("/").content.decode()
    assert "Salle d'attente" not in home and 'name="near"' in home
    searching = client.get("/", {"near": "75017"}).content.decode()
    assert "Salle d'attente" in searching
    assert "suivant=%2F%3Fnear%3D75017" in searching  # back to the search once admitted


def test_the_api_search_and_a_sites_slot_list_queue_like_their_pages(client, full_room, clock):
    """Search and the slot list are the API's first steps of the booking flow, as they are
    the portal's: a crowd reading them unqueued, then waiting for its turn to hold,
    overloaded the server (those admitted waited behind it) and held places from lists
    minutes old (bench/rush.py, overload x10)."""
    site, _ = full_room
    assert client.get(f"/api/v1/sites/{site.pk}").status_code == 200  # a calendar: never
    searching = client.get("/api/v1/sites", {"near": "75017"})
    assert searching.status_code == 503 and searching.json()["code"] == "waiting_room"
    client.cookies.clear()
    waiting = client.get(f"/api/v1/sites/{site.pk}/slots", {"dose": 1})
    assert waiting.status_code == 503 and waiting.json()["code"] == "waiting_room"
    assert int(waiting["Retry-After"]) > 0
    client.cookies.clear()
    clock[0] += 4 * 60
    found = client.get(
        "/api/v1/sites", {"near": "75017"}, HTTP_X_QUEUE_TICKET=searching[TICKET_HEADER]
    )
    assert found.status_code == 200 and found.json()["results"]
    listed = client.get(
        f"/api/v1/sites/{site.pk}/slots", {"dose": 1}, HTTP_X_QUEUE_PASS=found[PASS_HEADER]
    )
    assert listed.status_code == 200 and listed.json()["results"]
    # The pass it earned opens the next steps, however many came after.
    for _ in range(5):
        admission_decide(signed_ticket=None)
    held = client.post(
        "/api/v1/holds",
        {"slot_id": listed.json()["results"][0]["id"]},
        "application/json",
        HTTP_X_QUEUE_PASS=listed[PASS_HEADER],
    )
    assert held.status_code == 201


def test_the_rooms_answers_are_not_logged_as_errors(client, full_room, caplog):
    site, _ = full_room
    with caplog.at_level(logging.ERROR, logger="django.request"):
        assert client.get(f"/api/v1/sites/{site.pk}/slots").status_code == 503
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_the_room_is_off_unless_the_operators_set_a_rate(client, reference):
    site, _ = two_dose_site()
    page = client.get(f"/centres/{site.pk}/")
    assert "Salle d'attente" not in page.content.decode()
    assert TICKET_COOKIE not in page.cookies


def test_an_opening_to_come_is_said_with_its_day_and_hour(client, full_room, settings):
    site, _ = full_room
    settings.WAITING_ROOM_OPENS_AT = datetime.fromtimestamp(T0 + 7200).astimezone()
    html = client.get(f"/centres/{site.pk}/").content.decode()
    assert "La prise de rendez-vous ouvre le" in html
    assert "tiré au sort" in html


def test_the_room_goes_on_in_the_database_when_redis_stops(db, with_redis, settings):
    settings.WAITING_ROOM_RATE = 60
    settings.REDIS_TIMEOUT = 0.2
    before, ticket = arrive(T0)
    assert before.ticket.store == "redis"
    with_redis.stop()
    after, _ = arrive(T0 + 1, ticket)
    # Numbered again by the database (a Redis number means nothing there), and admitted.
    assert after.ticket.store == "db" and after.admitted


# The measured-capacity mode ---------------------------------------------------------------


@pytest.fixture
def auto_room(room):
    room.WAITING_ROOM_AUTO = True
    room.WAITING_ROOM_RATE = 0
    room.WAITING_ROOM_RATE_MIN = 60
    room.WAITING_ROOM_RATE_MAX = 100
    return room


def window_measured(*, at: float, requests: int, slow: int) -> None:
    """What admitted requests took in the window of `at` (latency_record's counts)."""
    counter_add(key="room:requests", window=WINDOW_SECONDS, amount=requests, now=at)
    counter_add(key="room:slow", window=WINDOW_SECONDS, amount=slow, now=at)


def rate_after(now: float, *, arriving: int = 1) -> float:
    for _ in range(arriving):
        admission_decide(signed_ticket=None, now=now)
    return room_reading()[1]


def test_the_followed_rate_starts_at_its_minimum_and_rises_while_people_wait_and_it_is_fast(
    auto_room,
):
    start = T0 - T0 % WINDOW_SECONDS
    # A crowd: most of it waits.
    for _ in range(30):
        admission_decide(signed_ticket=None, now=start)
    assert room_reading()[1] == 60
    window_measured(at=start, requests=200, slow=2)
    assert rate_after(start + WINDOW_SECONDS) == pytest.approx(63)
    # Once per window, whoever asks.
    assert rate_after(start + WINDOW_SECONDS + 1) == pytest.approx(63)
    window_measured(at=start + WINDOW_SECONDS, requests=200, slow=0)
    assert rate_after(start + 2 * WINDOW_SECONDS) == pytest.approx(66.15)


def test_the_followed_rate_falls_when_admitted_requests_get_slow_and_stays_in_bounds(auto_room):
    start = T0 - T0 % WINDOW_SECONDS
    for _ in range(30):
        admission_decide(signed_ticket=None, now=start)
    for n in range(1, 12):
        window_measured(at=start + (n - 1) * WINDOW_SECONDS, requests=100, slow=0)
        # More keep coming than are let in: people wait all along.
        rate = rate_after(start + n * WINDOW_SECONDS, arriving=30)
    assert rate == 100  # the maximum
    window_measured(at=start + 11 * WINDOW_SECONDS, requests=100, slow=30)
    assert rate_after(start + 12 * WINDOW_SECONDS) == pytest.approx(85)
    for n in range(13, 20):
        window_measured(at=start + (n - 1) * WINDOW_SECONDS, requests=100, slow=50)
        rate = rate_after(start + n * WINDOW_SECONDS)
    assert rate == 60  # the minimum


def test_after_a_cut_the_followed_rate_closes_on_the_rate_cut_and_then_probes_past_it(
    auto_room,
):
    auto_room.WAITING_ROOM_RATE_MAX = 1000
    start = T0 - T0 % WINDOW_SECONDS

    def window(n: int, *, slow: int) -> float:
        window_measured(at=start + (n - 1) * WINDOW_SECONDS, requests=1000, slow=slow)
        return rate_after(start + n * WINDOW_SECONDS, arriving=300)

    for _ in range(300):
        admission_decide(signed_ticket=None, now=start)
    for n in range(1, 16):
        rate = window(n, slow=0)
    assert rate == pytest.approx(60 * 1.05**15)  # 124.7: no cut yet, 5 % a window
    assert window(16, slow=60) == pytest.approx(rate * 0.85)  # 6 % slow: cut, ceiling set
    ceiling, cut = rate, rate * 0.85
    # Strained (between 1 % and 5 % slow): it holds.
    assert window(17, slow=30) == pytest.approx(cut)
    # Fast again: 30 % of the gap to the ceiling a window, at least 1 % of it...
    assert window(18, slow=0) == pytest.approx(cut + 0.3 * (ceiling - cut))
    rates = [window(n, slow=0) for n in range(19, 40)]
    steps = [later - earlier for earlier, later in itertools.pairwise(rates)]
    past = next(i for i, rate in enumerate(rates) if rate > ceiling)
    assert 4 <= past <= 12
    assert min(steps) == pytest.approx(0.01 * ceiling)  # ...slowly near it...
    # ...and past it faster each window: the ceiling may have been a passing slowness.
    assert steps[past + 6] > 3 * steps[past]
    assert rates[-1] > 3 * ceiling


def test_a_cut_at_the_floor_sets_no_ceiling(auto_room):
    start = T0 - T0 % WINDOW_SECONDS
    for _ in range(300):
        admission_decide(signed_ticket=None, now=start)
    window_measured(at=start, requests=100, slow=50)
    assert rate_after(start + WINDOW_SECONDS, arriving=30) == 60
    # Still rising 5 % a window: the slow start (a crowd let in at once) said nothing of
    # the knee.
    window_measured(at=start + WINDOW_SECONDS, requests=100, slow=0)
    assert rate_after(start + 2 * WINDOW_SECONDS, arriving=30) == pytest.approx(63)


def test_the_followed_rate_holds_while_nobody_waits(auto_room):
    start = T0 - T0 % WINDOW_SECONDS
    window_measured(at=start, requests=100, slow=0)
    assert rate_after(start + WINDOW_SECONDS) == 60
    admission_decide(signed_ticket=None, now=start + 100 * WINDOW_SECONDS)
    window_measured(at=start + 100 * WINDOW_SECONDS, requests=100, slow=0)
    assert rate_after(start + 101 * WINDOW_SECONDS, arriving=0) == 60


def test_admitted_requests_are_timed_in_the_measured_capacity_mode(client, auto_room, reference):
    site, _ = two_dose_site()
    client.get(f"/centres/{site.pk}/")
    client.get(f"/centres/{site.pk}/")
    assert counter_add(key="room:requests", window=WINDOW_SECONDS, amount=0).hits == 2


def test_the_time_a_request_waited_for_a_worker_counts_in_what_it_took(
    client, auto_room, reference, monkeypatch
):
    """Under overload requests queue in the kernel in front of busy workers: a request
    that waited there 0.6 s is slow, although the application took milliseconds."""
    site, _ = two_dose_site()
    page = f"/centres/{site.pk}/"

    def slow() -> int:
        return counter_add(key="room:slow", window=WINDOW_SECONDS, amount=0).hits

    client.get(page)  # templates compiled, caches warm: the next ones take milliseconds
    before = slow()
    client.get(page)
    assert slow() == before
    with socket.create_server(("127.0.0.1", 0)) as server:
        caller = socket.create_connection(server.getsockname())
        caller.sendall(b"GET / HTTP/1.1\r\n\r\n")
        time.sleep(0.6)
        accepted, _ = server.accept()
        with caller, accepted:
            client.get(page, **{"gunicorn.socket": accepted})
    assert slow() == before + 1


def test_the_room_is_measured_at_metrics(client, full_room):
    figures = client.get("/metrics").content.decode()
    assert "creneau_waiting_room_queue_length 3.0" in figures
    assert "creneau_waiting_room_rate 1.0" in figures
    assert re.search(r"creneau_waiting_room_waits_total \d", figures)
