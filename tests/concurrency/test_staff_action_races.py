"""Members of staff doing crossing things at the same site on the same day, at the same
instant, many rounds: each at their own browser (a test client signed in as their own
account) on the real pages, or, for the day's work at the site, which needs a clock set
to the evening, through the services with their `Actor`.

Every action must end done or refused with a message: never a 500 (the test client
raises what a view raised), and not even a deadlock that its retry hid. Each account's
audit events must be exactly its actions done, kind by kind: none lost, none for a
refusal. And the booking invariants must still recount."""

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.messages import constants, get_messages
from django.db import connection, connections
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from creneau.alerts.models import Subscription
from creneau.alerts.services import alerts_stop
from creneau.audit import services as audit_services
from creneau.audit.models import AuditEvent, ChainHead
from creneau.booking.models import Appointment, Series
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    cancellation_create,
    hold_create,
)
from creneau.care.models import Administration
from creneau.care.services import (
    administration_correct_lot,
    administration_correct_time,
    administration_record,
    administration_withdraw,
    appointment_check_in,
    noshows_mark,
)
from creneau.core import db
from creneau.core.actor import Actor
from creneau.core.errors import DomainError
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import LetterBatch, Notification
from creneau.scheduling.models import Session
from creneau.scheduling.services import session_change_lines
from creneau.sites.models import Site
from creneau.staff.models import ApiToken, StaffProfile
from creneau.staff.selectors import api_token_authenticate
from creneau.staff.services import api_token_create, staff_account_create
from creneau.vaccines.models import Delivery, Stock
from creneau.vaccines.services import delivery_record
from tests.alerts.helpers import subscribe
from tests.callcenter.test_letters import BY_LETTER, book_by_letter
from tests.concurrency.racers import race_threads
from tests.concurrency.test_booking_races import assert_invariants
from tests.factories import (
    LOT,
    STAFF,
    at,
    make_site,
    open_session,
    person,
    tomorrow,
    two_dose_site,
    vaccine,
    verified_contact,
)
from tests.staff_door import second_factor_give

pytestmark = pytest.mark.concurrency

Role = StaffProfile.Role
ROUNDS = 6

# What an action done writes to the audit log, by whoever did it (None: not a staff write).
AUDITED = {
    "hold": None,
    "book": ("create", "booking.series"),
    "move": ("change", "booking.series"),
    "cancel": ("change", "booking.series"),
    "cancel_dose2": ("change", "booking.series"),
    "dose2": ("change", "booking.series"),
    "cancellation": ("change", "booking.cancellation"),
    "open": ("create", "scheduling.session"),
    "lines": ("change", "scheduling.session"),
    "close": ("change", "scheduling.session"),
    "check_in": ("change", "booking.appointment"),
    "dose_given": ("create", "care.administration"),
    "correct_lot": ("change", "care.administration"),
    "correct_time": ("change", "care.administration"),
    "withdraw": ("change", "care.administration"),
    "noshows": ("change", "sites.site.day"),
    "delivery": ("create", "vaccines.delivery"),
    "receive": ("change", "vaccines.delivery"),
    "delivery_cancel": ("change", "vaccines.delivery"),
    "site_update": ("change", "sites.site"),
    "publish": ("change", "sites.site"),
    "schedule": ("change", "sites.site"),
    "site_close": ("change", "sites.site"),
    "letters": ("export", "outreach.letterbatch"),
    "token_create": ("create", "staff.apitoken"),
    "token_revoke": ("change", "staff.apitoken"),
    "alert_stop": ("change", "alerts.subscription"),
}

_numbers = itertools.count(1)


class Desk:
    """One member of staff at their own browser, and what their actions came to."""

    def __init__(self, username: str, role: str):
        self.user = staff_account_create(username=username, password=DEMO_PASSWORD, role=role)
        self.actor = Actor(user=self.user)
        self.client = Client()
        self.client.force_login(self.user)
        second_factor_give(self.client, self.user)
        self.done: Counter = Counter()
        self.refused: Counter = Counter()

    def cover(self, site: Site) -> None:
        self.user.staff_profile.sites.add(site)

    def post(self, kind: str, url: str, data: dict | None = None) -> bool:
        """Submit a form; True when it was done. A refusal is a 4xx page or an error
        message; a view's exception is raised here by the test client."""
        self.client.cookies.pop("messages", None)  # only this answer's messages
        response = self.client.post(url, data or {})
        assert response.status_code < 500, (kind, response.status_code)
        errors = [m for m in get_messages(response.wsgi_request) if m.level >= constants.ERROR]
        done = response.status_code == 302 and not errors
        (self.done if done else self.refused)[kind] += 1
        return done

    def call(
        self, kind: str, service: Callable, changed: Callable = bool, **arguments
    ) -> object | None:
        """Call a staff service as this account; a domain error is a refusal, anything
        else fails the test."""
        try:
            result = service(actor=self.actor, **arguments)
        except DomainError:
            self.refused[kind] += 1
            return None
        (self.done if changed(result) else self.refused)[kind] += 1
        return result

    def assert_audited(self) -> None:
        """Exactly one event per action done, of that action's kind, by this account."""
        expected: Counter = Counter()
        for kind, count in self.done.items():
            if AUDITED[kind] is not None:
                expected[AUDITED[kind]] += count
        written = Counter(
            AuditEvent.objects.filter(actor=self.user)
            .exclude(action="view")
            .values_list("action", "object_type")
        )
        assert written == expected, (self.user.get_username(), self.done, self.refused)


def desks(role: str, *names: str) -> list[Desk]:
    return [Desk(name, role) for name in names]


def browsers(desk: Desk, count: int) -> list[Desk]:
    """The same account at `count` browsers of its own (the first is `desk`), each with
    its own counts: an authority acting on its own tokens from several tabs."""
    found = [desk]
    for _ in range(count - 1):
        twin = Desk.__new__(Desk)
        twin.user, twin.actor = desk.user, desk.actor
        twin.client = Client()
        twin.client.force_login(desk.user)
        second_factor_give(twin.client, desk.user)
        twin.done, twin.refused = Counter(), Counter()
        found.append(twin)
    return found


def assert_audited_together(tabs: list[Desk]) -> None:
    """Desk.assert_audited for one account at several browsers: its events are theirs."""
    merged = Desk.__new__(Desk)
    merged.user = tabs[0].user
    merged.done = sum((tab.done for tab in tabs), Counter())
    merged.refused = sum((tab.refused for tab in tabs), Counter())
    merged.assert_audited()


@pytest.fixture
def retries(monkeypatch) -> list[Exception]:
    """The deadlocks (or busy databases) a unit of work ran a staff action again for.
    These actions take their locks in the documented order, so there must be none: the
    retry is for the rare orders the services cannot keep, and a test that only saw
    500s would pass while three attempts were enough to hide a wrong order."""
    seen: list[Exception] = []
    retryable = db._retryable

    def counted(error):
        if retryable(error):
            seen.append(error)
            return True
        return False

    monkeypatch.setattr(db, "_retryable", counted)
    return seen


def assert_no_failure(results: list, retries: list[Exception]) -> None:
    failures = [result for result in results if isinstance(result, BaseException)]
    assert not failures, failures
    assert not retries, retries


def book(session: Session, *, now=None) -> Series:
    """A course booked by the person themself, in the session's first free slot."""
    number = next(_numbers)
    slot = session.slots.filter(booked__lt=F("capacity")).order_by("start").first()
    return booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=now).hold.pk,
        contact=verified_contact(f"+3361{number:07d}"),
        person=person(given_name=f"Personne {number}"),
        now=now,
    ).series


def caller_details() -> dict:
    number = next(_numbers)
    return {
        "given_name": f"Appelant {number}",
        "family_name": "Martin",
        "birth_date": "02031940",
        "phone": f"0612{number:06d}",
    }


def slot_ids(session: Session) -> list[int]:
    return list(session.slots.order_by("start").values_list("pk", flat=True))


def cancel_url(site: Site) -> str:
    return reverse("backoffice:cancel", args=[site.pk])


def test_call_centre_moves_crossing_a_cancellation_of_the_day(reference_committed, retries):
    """Moves into and out of a day while the site cancels that day: a move lands before
    (and is cancelled with the day) or is refused after; never one left booked there."""
    agents = desks(Role.CALL_CENTRE, "agent1", "agent2", "agent3", "agent4")
    [manager] = desks(Role.SITE_MANAGER, "manager")

    def one_round():
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day)
        manager.cover(site)
        second = open_session(site, day=day + timedelta(days=1))
        leaving = [book(first) for _ in agents]
        coming = [book(second) for _ in agents]
        into_first, into_second = slot_ids(first)[2:], slot_ids(second)[2:]

        def act(index):
            if index == len(agents):
                reason = "Livraison retardée."
                data = {"portee": "day", "jour": day.isoformat(), "reason": reason}
                return manager.post("cancellation", cancel_url(site), data)
            agent = agents[index]
            for series, slot in ((leaving, into_second), (coming, into_first)):
                url = reverse("callcenter:move", args=[series[index].pk, 1])
                agent.post("move", url, {"slot": slot[index]})
            return None

        assert_no_failure(race_threads(len(agents) + 1, act), retries)
        assert not Appointment.objects.filter(
            slot__site=site, slot__date=day, status="booked"
        ).exists()

    for _ in range(ROUNDS):
        one_round()
    assert manager.done["cancellation"] == ROUNDS
    for desk in (*agents, manager):
        desk.assert_audited()
    assert_invariants()


def test_call_centre_cancellations_crossing_a_cancellation_of_their_session(
    reference_committed, retries
):
    """Courses cancelled one by one on the phone while the site cancels their session."""
    agents = desks(Role.CALL_CENTRE, "agent1", "agent2", "agent3")
    [manager] = desks(Role.SITE_MANAGER, "manager")

    def one_round():
        site, first = two_dose_site()
        manager.cover(site)
        courses = [book(first) for _ in range(2 * len(agents))]

        def act(index):
            if index == len(agents):
                data = {"portee": "session", "session": first.pk, "reason": "Panne."}
                return manager.post("cancellation", cancel_url(site), data)
            agent = agents[index]
            for series in courses[index :: len(agents)]:
                url = reverse("callcenter:cancel", args=[series.pk])
                agent.post("cancel", url, {"reason": f"Appel à {agent.user.get_username()}"})
            return None

        assert_no_failure(race_threads(len(agents) + 1, act), retries)
        assert not Series.objects.filter(pk__in=[s.pk for s in courses], status="active")

    for _ in range(ROUNDS):
        one_round()
    for agent in agents:
        # Cancelling a course already cancelled answers it as it is, on the phone as
        # on the portal (a double click): nothing changed, so nothing is recorded.
        # What the agent did cancel carries the agent's reason.
        reason = f"Appel à {agent.user.get_username()}"
        cancelled = Series.objects.filter(cancel_reason=reason).count()
        assert cancelled <= agent.done["cancel"]
        agent.done["cancel"] = cancelled
    assert manager.done["cancellation"] == ROUNDS
    for desk in (*agents, manager):
        desk.assert_audited()
    assert_invariants()


def test_second_dose_dates_given_while_their_session_is_cancelled(reference_committed, retries):
    """Courses whose dose 1 was given and whose dose-2 session was cancelled get a new
    date on the phone, while the site cancels the session those dates are in."""
    agents = desks(Role.CALL_CENTRE, "agent1", "agent2", "agent3", "agent4")
    [manager] = desks(Role.SITE_MANAGER, "manager")
    [nurse] = desks(Role.SITE_STAFF, "nurse")

    def one_round():
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day)
        manager.cover(site)
        courses = [book(first, now=at(day, 8)) for _ in agents]
        for series in courses:
            nurse.call(
                "dose_given",
                administration_record,
                appointment_id=series.appointments.get(dose_number=1).pk,
                site_id=site.pk,
                lot="EW1234",
                now=at(day, 9, 30),
            )
        lost = set(
            Appointment.objects.filter(series__in=courses, dose_number=2).values_list(
                "slot__session", flat=True
            )
        )
        for session_id in lost:
            cancellation_create(
                actor=STAFF,
                site_id=site.pk,
                scope="session",
                session_id=session_id,
                reason="Panne.",
            )
        target = site.sessions.filter(dose_number=2).exclude(pk__in=lost).order_by("date").first()
        places = slot_ids(target)

        def act(index):
            if index == len(agents):
                data = {"portee": "session", "session": target.pk, "reason": "Grève."}
                return manager.post("cancellation", cancel_url(site), data)
            url = reverse("callcenter:dose2", args=[courses[index].pk])
            return agents[index].post("dose2", url, {"slot": places[index]})

        assert_no_failure(race_threads(len(agents) + 1, act), retries)
        assert not Appointment.objects.filter(slot__session=target, status="booked").exists()

    for _ in range(ROUNDS):
        one_round()
    assert manager.done["cancellation"] == ROUNDS
    assert nurse.done["dose_given"] == len(agents) * ROUNDS
    for desk in (*agents, manager, nurse):
        desk.assert_audited()
    assert_invariants()


def test_call_centre_bookings_while_the_session_changes_lines_and_closes(
    reference_committed, retries
):
    agents = desks(Role.CALL_CENTRE, "agent1", "agent2", "agent3", "agent4")
    widener, closer = desks(Role.SITE_MANAGER, "widener", "closer")

    def one_round():
        site, first = two_dose_site()
        widener.cover(site)
        closer.cover(site)
        places = slot_ids(first)
        lines_url = reverse("backoffice:session_lines", args=[site.pk, first.pk])

        def act(index):
            if index == len(agents):
                widener.post("lines", lines_url, {"lines": 3})
                return widener.post("lines", lines_url, {"lines": 1})
            if index == len(agents) + 1:
                url = reverse("backoffice:session_stop", args=[site.pk, first.pk])
                return closer.post("close", url)
            agent = agents[index]
            # Two agents to a slot: lowering it to one line may find it too full.
            if agent.post("hold", reverse("callcenter:hold"), {"slot": places[index // 2]}):
                agent.post("book", reverse("callcenter:person"), caller_details())
            return None

        assert_no_failure(race_threads(len(agents) + 2, act), retries)
        assert Session.objects.get(pk=first.pk).status == "closed"

    for _ in range(ROUNDS):
        one_round()
    assert closer.done["close"] == ROUNDS
    for desk in (*agents, widener, closer):
        desk.assert_audited()
    assert_invariants()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's row locks")
def test_a_call_centre_booking_and_a_session_change_linking_the_days_first_events(
    reference_committed, retries, monkeypatch
):
    """The crossing the race above met by chance, set up in its worst order: a manager's
    change of lines has locked the session's places and is linking the day's first audit
    event (so it creates the day's chain heads) while an agent's booking in that session
    commits, its own event linked to heads it created a moment before.

    The booking's appointment refers to its place, and PostgreSQL checks that reference
    (KEY SHARE on the slot) at COMMIT; the manager, holding the slot, waited for the
    agent's new heads: a deadlock, retried. Neither may wait for the other now."""
    [agent] = desks(Role.CALL_CENTRE, "agent")
    [manager] = desks(Role.SITE_MANAGER, "manager")
    site, first = two_dose_site()
    manager.cover(site)
    hold = hold_create(slot_id=slot_ids(first)[0]).hold
    assert not ChainHead.objects.filter(day=timezone.localdate()).exists()

    # The manager's unit of work stops at its audit link (its places locked) until the
    # agent's booking has committed or is seen waiting for a lock.
    linking, go_on = threading.Event(), threading.Event()
    manager_thread: list[threading.Thread] = []
    chain_events = audit_services._chain

    def chain_after_the_booking(event_ids):
        if threading.current_thread() in manager_thread:
            linking.set()
            assert go_on.wait(timeout=30)
        chain_events(event_ids)

    monkeypatch.setattr(audit_services, "_chain", chain_after_the_booking)

    def act(kind):
        try:
            if kind == "lines":
                return manager.call("lines", session_change_lines, session_id=first.pk, lines=1)
            return agent.call(
                "book",
                booking_confirm,
                hold_id=hold.pk,
                contact=verified_contact("+33611223344"),
                person=person(given_name="Appelante"),
            )
        finally:
            connections.close_all()

    results: dict[str, object] = {}

    def run(kind):
        try:
            results[kind] = act(kind)
        except Exception as error:  # asserted below
            results[kind] = error

    changing = threading.Thread(target=run, args=("lines",))
    manager_thread.append(changing)
    changing.start()
    assert linking.wait(timeout=30)
    booking = threading.Thread(target=run, args=("book",))
    booking.start()
    deadline = time.monotonic() + 30
    while booking.is_alive() and not sessions_waiting_for_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    go_on.set()
    for thread in (changing, booking):
        thread.join(timeout=60)

    assert not [r for r in results.values() if isinstance(r, BaseException)], results
    assert not retries, retries
    assert manager.done["lines"] == agent.done["book"] == 1
    manager.assert_audited()
    agent.assert_audited()
    assert_invariants()


def sessions_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_no_shows_run_while_people_are_checked_in_and_given_their_dose(
    reference_committed, retries
):
    """In the evening, one nurse marks the no-shows while two others record, late, the
    people who came: each first dose ends missed, arrived or given, once."""
    marker, receptionist, vaccinator = desks(Role.SITE_STAFF, "marker", "reception", "nurse")

    def one_round():
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day)
        courses = [book(first, now=at(day, 8)) for _ in range(6)]
        dose1 = [s.appointments.get(dose_number=1).pk for s in courses]
        evening = at(day, 18)

        def act(index):
            if index == 0:
                for _ in range(2):
                    marker.call(
                        "noshows",
                        noshows_mark,
                        changed=lambda result: bool(result.marked),
                        site_id=site.pk,
                        day=day,
                        now=evening,
                    )
            elif index == 1:
                for pk in dose1:
                    receptionist.call(
                        "check_in",
                        appointment_check_in,
                        appointment_id=pk,
                        site_id=site.pk,
                        now=evening,
                    )
            else:
                for pk in reversed(dose1):
                    vaccinator.call(
                        "dose_given",
                        administration_record,
                        appointment_id=pk,
                        site_id=site.pk,
                        lot="EW1234",
                        now=evening,
                    )

        assert_no_failure(race_threads(3, act), retries)
        statuses = Counter(
            Appointment.objects.filter(pk__in=dose1).values_list("status", flat=True)
        )
        assert set(statuses) <= {"noshow", "arrived", "fulfilled"}, statuses

    for _ in range(ROUNDS):
        one_round()
    given = Appointment.objects.filter(dose_number=1, status="fulfilled").count()
    assert vaccinator.done["dose_given"] == given
    for desk in (marker, receptionist, vaccinator):
        desk.assert_audited()
    assert_invariants()


def test_doses_corrected_and_withdrawn_while_the_no_shows_run_and_doses_are_recorded(
    reference_committed, retries
):
    """In the evening, a manager withdraws three doses recorded by mistake while another
    corrects their lot and time, a nurse marks the no-shows and another records, late, the
    doses of everyone: a withdrawal lands before a correction (which then finds no dose) or
    after it, a dose withdrawn is given again, missed, or left booked when everyone else
    had passed, never two of these, and the ledger, the records and the courses agree."""
    withdrawer, corrector = desks(Role.SITE_MANAGER, "withdrawer", "corrector")
    marker, vaccinator = desks(Role.SITE_STAFF, "marker", "nurse")

    def one_round():
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day)
        delivery_record(
            site=site,
            vaccine=vaccine(),
            quantity=10,
            expected_on=day,
            lot="SP3456",
            received_at=at(day, 7),
        )
        courses = [book(first, now=at(day, 8)) for _ in range(6)]
        dose1 = [s.appointments.get(dose_number=1).pk for s in courses]
        for pk in dose1[:3]:
            vaccinator.call(
                "dose_given",
                administration_record,
                appointment_id=pk,
                site_id=site.pk,
                lot="ZZ999",
                lot_lent=True,
                now=at(day, 9, 30),
            )
        evening = at(day, 18)

        def act(index):
            if index == 0:
                for pk in dose1[:3]:
                    withdrawer.call(
                        "withdraw",
                        administration_withdraw,
                        appointment_id=pk,
                        site_id=site.pk,
                        reason="Enregistrée par erreur.",
                        now=evening,
                    )
            elif index == 1:
                for pk in reversed(dose1[:3]):
                    corrector.call(
                        "correct_lot",
                        administration_correct_lot,
                        appointment_id=pk,
                        site_id=site.pk,
                        lot="SP3456",
                        reason="Faute de frappe.",
                        now=evening,
                    )
                    corrector.call(
                        "correct_time",
                        administration_correct_time,
                        appointment_id=pk,
                        site_id=site.pk,
                        given_at=at(day, 9, 45),
                        reason="Saisie en retard.",
                        now=evening,
                    )
            elif index == 2:
                for _ in range(2):
                    marker.call(
                        "noshows",
                        noshows_mark,
                        changed=lambda result: bool(result.marked),
                        site_id=site.pk,
                        day=day,
                        now=evening,
                    )
            else:
                for pk in reversed(dose1):
                    vaccinator.call(
                        "dose_given",
                        administration_record,
                        appointment_id=pk,
                        site_id=site.pk,
                        lot="SP3456",
                        now=evening,
                    )

        assert_no_failure(race_threads(4, act), retries)
        statuses = Counter(
            Appointment.objects.filter(pk__in=dose1).values_list("status", flat=True)
        )
        assert set(statuses) <= {"noshow", "fulfilled", "booked"}, statuses
        # Still booked: a dose withdrawn after the last no-shows run and the nurse's round.
        withdrawn = Administration.objects.filter(
            appointment__in=dose1, withdrawn_at__isnull=False
        ).values_list("appointment", flat=True)
        assert set(
            Appointment.objects.filter(pk__in=dose1, status="booked").values_list("pk", flat=True)
        ) <= set(withdrawn)
        standing = Administration.objects.filter(
            appointment__slot__site=site, withdrawn_at__isnull=True
        )
        assert set(standing.values_list("appointment", flat=True)) == set(
            Appointment.objects.filter(slot__site=site, status="fulfilled").values_list(
                "pk", flat=True
            )
        )
        assert Stock.objects.get(site=site).given == standing.count()
        for record in Administration.objects.filter(withdrawn_at__isnull=False):
            assert record.corrections.filter(kind="withdrawn").count() == 1

    for _ in range(ROUNDS):
        one_round()
    assert (
        withdrawer.done["withdraw"]
        == Administration.objects.filter(withdrawn_at__isnull=False).count()
    )
    for desk in (withdrawer, corrector, marker, vaccinator):
        desk.assert_audited()
    assert_invariants()


def test_people_checked_in_while_their_courses_are_cancelled_by_phone_and_by_the_site(
    reference_committed, retries
):
    """In the morning, the desk checks people in while an agent cancels half of their
    courses on the phone and, every other round, the manager cancels the day: each course
    ends either with its person checked in (and its dose 2 kept) or cancelled whole, never
    a checked-in person whose appointment was cancelled under them."""
    [receptionist] = desks(Role.SITE_STAFF, "reception")
    [agent] = desks(Role.CALL_CENTRE, "agent")
    [manager] = desks(Role.SITE_MANAGER, "manager")
    booked = cancelled = 0

    def one_round(*, day_cancelled: bool):
        nonlocal booked, cancelled
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day, lines=3)
        courses = [book(first, now=at(day - timedelta(days=1), 12)) for _ in range(6)]
        morning = at(day, 8)

        def act(index):
            if index == 0:
                for series in courses:
                    receptionist.call(
                        "check_in",
                        appointment_check_in,
                        appointment_id=series.appointments.get(dose_number=1).pk,
                        site_id=site.pk,
                        now=morning,
                    )
            elif index == 1:
                for series in reversed(courses[::2]):
                    agent.call(
                        "cancel",
                        booking_cancel,
                        changed=lambda result: result.series.status == "cancelled",
                        series_id=series.pk,
                        reason="Appel",
                        now=morning,
                    )
            elif day_cancelled:
                manager.call(
                    "cancellation",
                    cancellation_create,
                    site_id=site.pk,
                    scope="day",
                    day=day,
                    reason="Panne.",
                    now=morning,
                )

        assert_no_failure(race_threads(3, act), retries)
        for series in Series.objects.filter(pk__in=[s.pk for s in courses]):
            statuses = dict(series.appointments.values_list("dose_number", "status"))
            if statuses[1] == "arrived":
                assert (series.status, statuses[2]) == ("active", "booked"), statuses
                booked += 1
            else:
                assert series.status == "cancelled", (series.status, statuses)
                assert statuses == {1: "cancelled", 2: "cancelled"}, statuses
                cancelled += 1

    for round_number in range(ROUNDS):
        one_round(day_cancelled=bool(round_number % 2))
    assert receptionist.done["check_in"] == booked
    assert booked and cancelled
    # The agent's cancellations of courses the day's cancellation had already ended change
    # nothing and are not recorded (see the phone cancellations above).
    agent.done["cancel"] = Series.objects.filter(cancel_reason="Appel").count()
    for desk in (receptionist, agent, manager):
        desk.assert_audited()
    assert_invariants()


def test_second_doses_cancelled_by_phone_while_their_first_doses_are_withdrawn(
    reference_committed, retries
):
    """In the evening an agent cancels the second dose of courses whose first dose was
    given, while the manager withdraws those first doses as recorded by mistake: each
    course ends one way, dose 2 cancelled with its dose 1 recorded, or dose 1 withdrawn
    with its dose 2 kept; never a dose 1 to come without its dose 2 (invariant 3)."""
    [agent] = desks(Role.CALL_CENTRE, "agent")
    [withdrawer] = desks(Role.SITE_MANAGER, "withdrawer")
    [vaccinator] = desks(Role.SITE_STAFF, "nurse")
    ends: Counter = Counter()

    def one_round():
        day = tomorrow()
        site, first = two_dose_site(dose1_day=day)
        courses = [book(first, now=at(day, 8)) for _ in range(4)]
        dose1 = [series.appointments.get(dose_number=1).pk for series in courses]
        for pk in dose1:
            vaccinator.call(
                "dose_given",
                administration_record,
                appointment_id=pk,
                site_id=site.pk,
                lot=LOT,
                now=at(day, 9, 30),
            )
        evening = at(day, 18)

        def act(index):
            if index == 0:
                for series in courses:
                    agent.call(
                        "cancel_dose2",
                        booking_dose2_cancel,
                        changed=lambda result: result.series.status == "cancelled",
                        series_id=series.pk,
                        reason="Part à l'étranger.",
                        now=evening,
                    )
            else:
                for pk in reversed(dose1):
                    withdrawer.call(
                        "withdraw",
                        administration_withdraw,
                        appointment_id=pk,
                        site_id=site.pk,
                        reason="Enregistrée par erreur.",
                        now=evening,
                    )

        assert_no_failure(race_threads(2, act), retries)
        for series in Series.objects.filter(pk__in=[s.pk for s in courses]):
            statuses = dict(series.appointments.values_list("dose_number", "status"))
            if series.status == "cancelled":
                assert statuses == {1: "fulfilled", 2: "cancelled"}, statuses
            else:
                assert series.status == "active" and statuses[2] == "booked", statuses
                assert statuses[1] in ("booked", "arrived"), statuses
            ends[series.status] += 1

    for _ in range(ROUNDS):
        one_round()
    # Which way each course ends is the race's to decide (on a loaded machine one desk may
    # finish before the other starts): every course ended one of the two ways, each once.
    assert sum(ends.values()) == ROUNDS * 4, ends
    assert agent.done["cancel_dose2"] == ends["cancelled"]
    assert withdrawer.done["withdraw"] == ends["active"]
    for desk in (agent, withdrawer, vaccinator):
        desk.assert_audited()
    assert_invariants()


def session_form(day, hour: int, *, weekly: bool) -> dict:
    """A session of 3 slots x 2 lines of a two-dose vaccine: 12 doses promised."""
    return {
        "vaccine": vaccine().pk,
        "dose_number": 1,
        "date_from": day.isoformat(),
        "date_to": (day + timedelta(days=6)).isoformat() if weekly else "",
        "weekdays": [day.weekday()] if weekly else [],
        "start_time": f"{hour:02d}:00",
        "end_time": f"{hour:02d}:30",
        "lines": 2,
        "slot_minutes": 10,
    }


def test_sessions_opened_while_a_delivery_is_cancelled_and_another_recorded(
    reference_committed, retries
):
    """24 doses received and 24 expected: the sessions opened and the expected delivery
    cancelled never promise more than what is left delivered."""
    opener, canceller, recorder = desks(Role.SITE_MANAGER, "opener", "canceller", "recorder")

    def one_round():
        site = make_site()
        for desk in (opener, canceller, recorder):
            desk.cover(site)
        today = timezone.localdate()
        delivery_record(
            site=site,
            vaccine=vaccine(),
            quantity=24,
            expected_on=today,
            received_at=timezone.now(),
        )
        expected = delivery_record(site=site, vaccine=vaccine(), quantity=24, expected_on=today)
        day = tomorrow()

        def act(index):
            if index == 0:
                url = reverse("backoffice:sessions", args=[site.pk])
                for hour in range(8, 13):
                    opener.post("open", url, session_form(day, hour, weekly=hour % 2 == 0))
            elif index == 1:
                url = reverse("backoffice:delivery_change", args=[site.pk, expected.pk])
                canceller.post("delivery_cancel", url, {"action": "cancel"})
            else:
                url = reverse("backoffice:stock", args=[site.pk])
                data = {"vaccine": vaccine().pk, "quantity": 12, "expected_on": today.isoformat()}
                recorder.post("delivery", url, data)

        assert_no_failure(race_threads(3, act), retries)
        stock = Stock.objects.get(site=site)
        live = Delivery.objects.filter(site=site).exclude(status="cancelled")
        assert stock.delivered == sum(live.values_list("quantity", flat=True))
        assert stock.committed == 12 * site.sessions.count()

    for _ in range(ROUNDS):
        one_round()
    for desk in (opener, canceller, recorder):
        desk.assert_audited()
    assert_invariants()


def test_deliveries_received_and_cancelled_at_once_end_one_way_each(reference_committed, retries):
    receiver, canceller = desks(Role.SITE_MANAGER, "receiver", "canceller")

    def one_round():
        site = make_site()
        receiver.cover(site)
        canceller.cover(site)
        expected = [
            delivery_record(site=site, vaccine=vaccine(), quantity=10, expected_on=tomorrow())
            for _ in range(6)
        ]

        def act(index):
            if index == 0:
                for number, delivery in enumerate(expected):
                    url = reverse("backoffice:delivery_change", args=[site.pk, delivery.pk])
                    receiver.post("receive", url, {"action": "receive", "lot": f"LOT{number}"})
            else:
                for delivery in reversed(expected):
                    url = reverse("backoffice:delivery_change", args=[site.pk, delivery.pk])
                    canceller.post("delivery_cancel", url, {"action": "cancel"})

        assert_no_failure(race_threads(2, act), retries)
        received = Delivery.objects.filter(site=site, status="received").count()
        assert Stock.objects.get(site=site).delivered == 10 * received

    for _ in range(ROUNDS):
        one_round()
    assert receiver.done["receive"] + canceller.done["delivery_cancel"] == 6 * ROUNDS
    for desk in (receiver, canceller):
        desk.assert_audited()
    assert_invariants()


def test_a_site_edited_while_it_is_published_scheduled_and_closed(reference_committed, retries):
    editor, publisher, scheduler, closer = desks(
        Role.SITE_MANAGER, "editor", "publisher", "scheduler", "closer"
    )

    def one_round():
        site = make_site(status=Site.Status.DRAFT)
        for desk in (editor, publisher, scheduler, closer):
            desk.cover(site)
        settings_url = reverse("backoffice:site_settings", args=[site.pk])
        publication_url = reverse("backoffice:site_publication", args=[site.pk])
        later = timezone.localtime() + timedelta(days=2)

        def act(index):
            if index == 0:
                for name in ("Centre Wagram", "Centre Wagram (salle B)"):
                    details = {"name": name, "phone": "01 42 27 00 00", "accessibility": "PMR"}
                    editor.post("site_update", settings_url, details)
            elif index == 1:
                publisher.post("publish", publication_url, {"action": "publish"})
            elif index == 2:
                data = {"action": "schedule", "publish_at": later.strftime("%Y-%m-%dT%H:%M")}
                scheduler.post("schedule", publication_url, data)
            else:
                closer.post("site_close", publication_url, {"action": "close"})

        assert_no_failure(race_threads(4, act), retries)
        assert Site.objects.get(pk=site.pk).status == Site.Status.CLOSED

    for _ in range(ROUNDS):
        one_round()
    assert editor.done["site_update"] == 2 * ROUNDS
    assert closer.done["site_close"] == ROUNDS
    for desk in (editor, publisher, scheduler, closer):
        desk.assert_audited()


def test_two_agents_printing_letters_while_a_third_books_by_letter(reference_committed, retries):
    printers = desks(Role.CALL_CENTRE, "printer1", "printer2")
    [agent] = desks(Role.CALL_CENTRE, "agent")
    _site, session = two_dose_site(lines=10)

    def one_round():
        for _ in range(5):
            book_by_letter(session, given_name=f"Lettre {next(_numbers)}")
        places = slot_ids(session)

        def act(index):
            if index < len(printers):
                for _ in range(2):
                    printers[index].post("letters", reverse("callcenter:letters"))
                return None
            if agent.post("hold", reverse("callcenter:hold"), {"slot": places[-1]}):
                details = {**BY_LETTER, **caller_details(), "phone": ""}
                agent.post("book", reverse("callcenter:person"), details)
            return None

        assert_no_failure(race_threads(len(printers) + 1, act), retries)

    for _ in range(ROUNDS):
        one_round()
    for batch in LetterBatch.objects.all():
        assert batch.notifications.count() == batch.letters > 0
    letters = Notification.objects.filter(channel="letter")
    assert not letters.filter(batch__isnull=True).exclude(status="pending").exists()
    for printer in printers:
        made = LetterBatch.objects.filter(created_by=printer.user).count()
        assert made == printer.done["letters"]
    assert agent.done["book"] == ROUNDS
    for desk in (*printers, agent):
        desk.assert_audited()
    assert_invariants()


def test_an_api_token_revoked_from_two_tabs_at_once_is_revoked_once(reference_committed, retries):
    tabs = browsers(Desk("registre", Role.NATIONAL_AUTHORITY), 2)

    def one_round():
        made = tabs[0].call(
            "token_create", api_token_create, user=tabs[0].user, name="Registre", days=30
        )
        url = reverse("backoffice:api_token_revoke", args=[made.token.pk])
        assert_no_failure(race_threads(2, lambda i: tabs[i].post("token_revoke", url)), retries)
        assert ApiToken.objects.get(pk=made.token.pk).revoked_at is not None

    for _ in range(ROUNDS):
        one_round()
    # One revocation and one "already revoked" each round, and one event per revocation.
    assert sum(tab.done["token_revoke"] for tab in tabs) == ROUNDS
    assert sum(tab.refused["token_revoke"] for tab in tabs) == ROUNDS
    revocations = AuditEvent.objects.filter(action="change", object_type="staff.apitoken")
    assert sorted(revocations.values_list("object_id", flat=True)) == sorted(
        str(pk) for pk in ApiToken.objects.values_list("pk", flat=True)
    )
    assert_audited_together(tabs)


def test_api_tokens_created_from_many_tabs_at_once_are_distinct(reference_committed, retries):
    tabs = browsers(Desk("registre", Role.NATIONAL_AUTHORITY), 4)

    def create(index: int):
        return tabs[index].call(
            "token_create", api_token_create, user=tabs[index].user, name="Registre", days=30
        )

    made = []
    for _ in range(ROUNDS):
        results = race_threads(4, create)
        assert_no_failure(results, retries)
        made.extend(results)
    secrets = {new.secret for new in made}
    assert len(secrets) == len(made) == 4 * ROUNDS
    assert ApiToken.objects.filter(user=tabs[0].user).count() == 4 * ROUNDS
    assert len(set(ApiToken.objects.values_list("token_hash", flat=True))) == 4 * ROUNDS
    # Each secret opens its own token, and no other.
    for new in made:
        assert api_token_authenticate(secret=new.secret).token.pk == new.token.pk
    assert_audited_together(tabs)


def test_an_alert_stopped_by_two_agents_and_by_its_link_at_once_is_stopped_once(
    reference_committed, retries
):
    agents = desks(Role.CALL_CENTRE, "agent.a", "agent.b")
    stopped_by_link = 0
    for _ in range(ROUNDS):
        alert = subscribe(next(_numbers))
        url = reverse("callcenter:alert_stop", args=[alert.pk])

        def stop(index: int, alert=alert, url=url):
            if index < len(agents):
                return agents[index].post("alert_stop", url)
            return alerts_stop(subscription_ids=[alert.pk])

        results = race_threads(3, stop)
        assert_no_failure(results, retries)
        stopped_by_link += results[2]
        alert.refresh_from_db()
        assert alert.status == Subscription.Status.STOPPED
    # Each round one of the three stopped it; the agents' events are their stops alone.
    done = sum(desk.done["alert_stop"] for desk in agents)
    assert done + stopped_by_link == ROUNDS
    for desk in agents:
        desk.assert_audited()
