"""Random sequences of deliveries, openings, changes, closings and bookings.

A plain in-memory model says what each step should do; after every step the database
must agree with it, and the invariants must hold whatever the sequence:
- no slot booked beyond its capacity (invariant 1);
- no stock promised beyond what was delivered (invariant 2), and what is promised is
  exactly what the open places need;
- the availability read model equals a recount of the slots.
"""

from dataclasses import dataclass, field
from datetime import time

import pytest
from django.db import transaction
from django.db.models import F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from creneau.core.errors import CapacityBelowBooked, SessionNotOpen, StockInsufficient
from creneau.scheduling.models import Slot
from creneau.scheduling.services import (
    availability_refresh,
    session_change_lines,
    session_close,
)
from creneau.vaccines.models import Delivery, Stock
from creneau.vaccines.services import delivery_cancel, delivery_record
from tests.checks import assert_read_model_equals_a_recount
from tests.factories import STAFF, make_site, open_session, tomorrow, vaccine

VACCINES = ("comirnaty", "janssen")


@dataclass
class SessionModel:
    stock_key: tuple[int, str]
    lines: int
    doses_per_place: int
    booked: list[int]
    open: bool = True


@dataclass
class Model:
    delivered: dict = field(default_factory=dict)
    committed: dict = field(default_factory=dict)
    deliveries: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)

    def uncommitted(self, key) -> int:
        return self.delivered.get(key, 0) - self.committed.get(key, 0)


class StockAndCapacity(RuleBasedStateMachine):
    deliveries = Bundle("deliveries")
    sessions = Bundle("sessions")

    @initialize()
    def start(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.sites = [make_site(name="A"), make_site(name="B", insee_code="13201")]
        self.model = Model()

    def teardown(self):
        if hasattr(self, "atomic"):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    @rule(
        target=deliveries,
        site=st.integers(0, 1),
        code=st.sampled_from(VACCINES),
        quantity=st.integers(1, 150),
    )
    def deliver(self, site, code, quantity):
        site = self.sites[site]
        delivery = delivery_record(
            site=site, vaccine=vaccine(code), quantity=quantity, expected_on=tomorrow()
        )
        key = (site.pk, code)
        self.model.delivered[key] = self.model.delivered.get(key, 0) + quantity
        self.model.deliveries[delivery.pk] = (key, quantity, True)
        return delivery.pk

    @rule(delivery_id=deliveries)
    def cancel_delivery(self, delivery_id):
        key, quantity, expected = self.model.deliveries[delivery_id]
        allowed = expected and self.model.uncommitted(key) >= quantity
        try:
            delivery_cancel(actor=STAFF, delivery_id=delivery_id)
        except (StockInsufficient, Exception) as error:
            assert not allowed, error
            return
        assert allowed
        self.model.delivered[key] -= quantity
        self.model.deliveries[delivery_id] = (key, quantity, False)

    @rule(
        target=sessions,
        site=st.integers(0, 1),
        code=st.sampled_from(VACCINES),
        second_dose=st.booleans(),
        lines=st.integers(1, 4),
        slots=st.integers(1, 5),
        day=st.integers(1, 3),
    )
    def open(self, site, code, second_dose, lines, slots, day):
        dose_number = 2 if second_dose and code == "comirnaty" else 1
        per_place = vaccine(code).doses_in_series if dose_number == 1 else 0
        key = (self.sites[site].pk, code)
        needed = slots * lines * per_place
        try:
            session = open_session(
                self.sites[site],
                code=code,
                day=tomorrow(day),
                start=time(9),
                end=time(9, 10 * slots),
                lines=lines,
                dose_number=dose_number,
            )
        except StockInsufficient:
            assert self.model.uncommitted(key) < needed
            return None
        assert self.model.uncommitted(key) >= needed
        self.model.committed[key] = self.model.committed.get(key, 0) + needed
        self.model.sessions[session.pk] = SessionModel(key, lines, per_place, [0] * slots)
        return session.pk

    @rule(session_id=sessions, lines=st.integers(1, 5))
    def change_lines(self, session_id, lines):
        if session_id is None:
            return
        model = self.model.sessions[session_id]
        delta = (lines - model.lines) * len(model.booked) * model.doses_per_place
        try:
            session_change_lines(actor=STAFF, session_id=session_id, lines=lines)
        except SessionNotOpen:
            assert not model.open
            return
        except CapacityBelowBooked:
            assert max(model.booked) > lines
            return
        except StockInsufficient:
            assert delta > self.model.uncommitted(model.stock_key)
            return
        assert model.open and max(model.booked) <= lines
        assert delta <= self.model.uncommitted(model.stock_key)
        self.model.committed[model.stock_key] += delta
        model.lines = lines

    @rule(session_id=sessions)
    def close(self, session_id):
        if session_id is None:
            return
        model = self.model.sessions[session_id]
        try:
            released = session_close(actor=STAFF, session_id=session_id)
        except SessionNotOpen:
            assert not model.open
            return
        expected = sum(model.lines - b for b in model.booked) * model.doses_per_place
        assert released == expected
        self.model.committed[model.stock_key] -= expected
        model.open = False

    @rule(session_id=sessions, index=st.integers(0, 5))
    def book_a_place(self, session_id, index):
        """The booking path's guard: one place, only if one is free."""
        if session_id is None:
            return
        model = self.model.sessions[session_id]
        index %= len(model.booked)
        slot = Slot.objects.filter(session_id=session_id).order_by("start")[index]
        taken = Slot.objects.filter(pk=slot.pk, booked__lt=F("capacity")).update(
            booked=F("booked") + 1
        )
        capacity = model.lines if model.open else model.booked[index]
        assert taken == (model.booked[index] < capacity)
        model.booked[index] += taken
        # Whatever moves a booked count refreshes the read model in the same transaction.
        availability_refresh(
            site_id=slot.site_id,
            vaccine_id=slot.vaccine_id,
            dose_number=slot.dose_number,
            days=[slot.date],
        )

    @invariant()
    def database_agrees_with_the_model(self):
        if not hasattr(self, "model"):
            return
        for stock in Stock.objects.select_related("vaccine"):
            key = (stock.site_id, stock.vaccine.code)
            assert stock.delivered == self.model.delivered.get(key, 0)
            assert stock.committed == self.model.committed.get(key, 0)
            assert stock.committed + stock.given <= stock.delivered
        for slot in Slot.objects.select_related("session"):
            assert 0 <= slot.booked <= slot.capacity
        for key in self.model.delivered:
            promised = sum(
                slot.capacity * slot.session.doses_per_place
                for slot in Slot.objects.select_related("session").filter(
                    site_id=key[0], vaccine__code=key[1]
                )
            )
            assert promised == self.model.committed.get(key, 0)
        assert Delivery.objects.filter(status=Delivery.Status.CANCELLED).count() == sum(
            1 for _, _, expected in self.model.deliveries.values() if not expected
        )

    @invariant()
    def read_model_equals_a_recount(self):
        if hasattr(self, "model"):
            assert_read_model_equals_a_recount()


@pytest.mark.django_db
def test_stock_and_capacity_are_never_exceeded(reference):
    run_state_machine_as_test(
        StockAndCapacity,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
