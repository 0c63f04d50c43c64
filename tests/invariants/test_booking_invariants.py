"""Random sequences of holds, bookings, retries, moves, cancellations, expiries and
session cancellations against a plain in-memory model.

The model records what each step should leave: who holds which place, which series
are active and where their doses are, how many messages each change wrote. After every
step the database must agree with it, and the invariants of the brief must hold,
recomputed from the tables themselves:
1. no slot beyond its capacity, and `booked` is exactly active appointments + holds;
2. stock never promised beyond what was delivered;
3. every active series has its dose 1 and, for a two-dose product, its dose 2 at the
   same site inside the product's interval; a course begun elsewhere (its dose 1 given
   at another place, declared) never has a dose 1 here, and has one dose 2 inside the
   interval after the declared day (or none, waiting for a new date once its dose-2
   session was cancelled);
4. at most one active series per person;
5. one message per confirmed booking, move and cancellation, none for a refusal;
7. a retried booking request answers the same series.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import time, timedelta

import pytest
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from creneau.booking.models import Appointment, Hold, Series
from creneau.booking.selectors import dose1_elsewhere_check
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_move,
    hold_create,
    hold_release,
    session_cancel,
)
from creneau.core.errors import DomainError, InvalidInput
from creneau.outreach.models import Notification
from creneau.scheduling.models import Session, Slot
from creneau.vaccines.models import Stock
from tests.checks import assert_read_model_equals_a_recount
from tests.factories import (
    STAFF,
    deliver,
    make_site,
    open_session,
    person,
    tomorrow,
    verified_contact,
)

# What the sequences did, so that a test which never books cannot pass for one that does.
OUTCOMES: Counter = Counter()


def event(outcome: str) -> None:
    OUTCOMES[outcome] += 1


def something(value):
    """A rule's result for its bundle: nothing at all when the step was refused."""
    return multiple() if value is None else value


PEOPLE = [("Jeanne", "Martin"), ("Paul", "Durand"), ("Ana", "Lopez"), ("Marc", "Petit")]


@dataclass
class SeriesModel:
    person: int
    contact: int
    active: bool = True
    moves: int = 0
    idempotency_key: str = ""
    hold_id: str = ""
    # Begun elsewhere: only its dose 2 is booked here.
    elsewhere: bool = False
    # Messages saying an appointment was cancelled: the course's end, or (begun
    # elsewhere) its dose 2 cancelled with its session while the course goes on.
    cancellations: int = 0


@dataclass
class Model:
    holds: dict = field(default_factory=dict)  # hold id -> expired?
    series: dict = field(default_factory=dict)  # series id -> SeriesModel


class Booking(RuleBasedStateMachine):
    holds = Bundle("holds")
    series = Bundle("series")

    @initialize()
    def start(self):
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        day = tomorrow()
        self.sites = [make_site(name="A"), make_site(name="B", insee_code="75118")]
        for site in self.sites:
            deliver(site, 200)
            deliver(site, 20, code="janssen")
            open_session(site, day=day, end=time(9, 30), lines=2)
            open_session(site, day=day + timedelta(days=2), end=time(9, 20), lines=1)
            open_session(
                site, day=day + timedelta(days=42), end=time(9, 40), lines=2, dose_number=2
            )
            open_session(site, code="janssen", day=day, end=time(9, 20), lines=1)
            # Second doses for people whose first was given elsewhere 20 days ago.
            open_session(site, day=day + timedelta(days=3), end=time(9, 20), lines=1, dose_number=2)
        self.first_dose_slots = list(Slot.objects.filter(dose_number=1).order_by("pk"))
        self.dose2_slots = list(Slot.objects.filter(dose_number=2).order_by("pk"))
        self.dose2_alone_slots = [
            slot for slot in self.dose2_slots if slot.date == day + timedelta(days=3)
        ]
        self.declared = dose1_elsewhere_check(
            vaccine_code="comirnaty",
            given_on=timezone.localdate() - timedelta(days=20),
            today=timezone.localdate(),
        )
        self.contacts = [verified_contact("+33612345678"), verified_contact("+33698765432")]
        self.model = Model()

    def teardown(self):
        if hasattr(self, "atomic"):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    @rule(target=holds, index=st.integers(0, 100))
    def hold(self, index):
        return something(self._hold(index))

    def _hold(self, index, *, elsewhere: bool = False, slots: list | None = None) -> str | None:
        if slots is None:
            slots = self.dose2_slots if elsewhere else self.first_dose_slots
        slot = slots[index % len(slots)]
        try:
            result = hold_create(
                slot_id=slot.pk, dose1_elsewhere=self.declared if elsewhere else None
            )
        except DomainError as error:
            event(f"hold refused: {error.code}")
            return None
        event("hold of dose 2 alone" if elsewhere else "hold")
        self.model.holds[str(result.hold.pk)] = False
        return str(result.hold.pk)

    @rule(hold_id=holds)
    def expire(self, hold_id):
        if hold_id in self.model.holds:
            Hold.objects.filter(pk=hold_id).update(expires_at=timezone.now() - timedelta(1))
            self.model.holds[hold_id] = True

    @rule(hold_id=consumes(holds))
    def release(self, hold_id):
        try:
            hold_release(hold_id=hold_id)
        except DomainError:
            assert not Hold.objects.filter(pk=hold_id).exists()
        self.model.holds.pop(hold_id, None)

    @rule(
        target=series,
        index=st.integers(0, 100),
        who=st.integers(0, len(PEOPLE) - 1),
        contact=st.integers(0, 1),
    )
    def hold_and_book(self, index, who, contact):
        """The usual journey in one step: choose a slot, then confirm at once."""
        hold_id = self._hold(index)
        return something(hold_id and self._book(hold_id, who, contact))

    @rule(
        target=series,
        index=st.integers(0, 100),
        who=st.integers(0, len(PEOPLE) - 1),
        contact=st.integers(0, 1),
    )
    def hold_and_book_dose2_alone(self, index, who, contact):
        """Dose 1 given elsewhere: a second-dose slot held alone (refused outside the
        interval), then booked, or answered with the person's course under way."""
        hold_id = self._hold(index, elsewhere=True)
        return something(hold_id and self._book(hold_id, who, contact, elsewhere=True))

    @rule(
        target=series,
        index=st.integers(0, 100),
        who=st.integers(0, len(PEOPLE) - 1),
        contact=st.integers(0, 1),
    )
    def book_dose2_alone_and_cancel_it(self, index, who, contact):
        """A course begun elsewhere, booked in a second-dose slot inside its interval,
        then ended by cancelling that dose 2, in one step. Through the two rules apart,
        this happens only in an example where Hypothesis enabled both (it enables a
        random subset of the rules in each one) and the cancellation then drew that very
        course: in 30 examples, sometimes never. They stay, for the other orders."""
        hold_id = self._hold(index, elsewhere=True, slots=self.dose2_alone_slots)
        series_id = hold_id and self._book(hold_id, who, contact, elsewhere=True)
        if series_id:
            self._cancel_dose2(series_id)
        return something(series_id)

    @rule(
        target=series,
        hold_id=consumes(holds),
        who=st.integers(0, len(PEOPLE) - 1),
        contact=st.integers(0, 1),
    )
    def book(self, hold_id, who, contact):
        return something(self._book(hold_id, who, contact))

    def _book(self, hold_id, who, contact, *, elsewhere: bool = False) -> int | None:
        was_live = (
            self.model.holds.get(hold_id) is False and Hold.objects.filter(pk=hold_id).exists()
        )
        key = f"key-{hold_id}"
        already = next(
            (
                series_id
                for series_id, s in self.model.series.items()
                if s.active and s.person == who and s.contact == contact
            ),
            None,
        )
        booked_elsewhere = any(
            s.active and s.person == who and s.contact != contact
            for s in self.model.series.values()
        )
        given, family = PEOPLE[who]
        try:
            result = booking_confirm(
                hold_id=hold_id,
                contact=self.contacts[contact],
                person=person(given_name=given, family_name=family),
                idempotency_key=key,
            )
        except DomainError as error:
            event(f"booking refused: {error.code}")
            expected = already is not None or (booked_elsewhere and error.code == "already_booked")
            assert not was_live or expected, error.message
            if not Hold.objects.filter(pk=hold_id).exists():
                self.model.holds.pop(hold_id, None)
            return None
        self.model.holds.pop(hold_id, None)
        if already is not None:
            assert not result.created and result.series.pk == already
            return None
        assert was_live and result.created and not booked_elsewhere
        event("booked dose 2 alone" if elsewhere else "booked")
        self.model.series[result.series.pk] = SeriesModel(
            person=who, contact=contact, idempotency_key=key, hold_id=hold_id, elsewhere=elsewhere
        )
        return result.series.pk

    @rule(series_id=series, who=st.integers(0, len(PEOPLE) - 1))
    def retry(self, series_id, who):
        """The same request again (a network retry): the same booking, nothing new."""
        model = self.model.series[series_id]
        given, family = PEOPLE[model.person]
        result = booking_confirm(
            hold_id=model.hold_id,
            contact=self.contacts[model.contact],
            person=person(given_name=given, family_name=family),
            idempotency_key=model.idempotency_key,
        )
        assert result.series.pk == series_id

    @rule(series_id=series, dose=st.sampled_from([1, 2]), index=st.integers(0, 100))
    def move(self, series_id, dose, index):
        if not self.model.series[series_id].active:
            return
        series = Series.objects.get(pk=series_id)
        current = Appointment.objects.filter(
            series=series, dose_number=dose, status="booked"
        ).values_list("slot_id", flat=True)
        candidates = list(
            Slot.objects.filter(dose_number=dose, vaccine_id=series.vaccine_id)
            .exclude(pk__in=current)
            .filter(**({"site_id": series.site_id} if dose == 2 else {}))
            .order_by("pk")
        )
        if not candidates:
            return
        target = candidates[index % len(candidates)]
        try:
            booking_move(series_id=series_id, dose_number=dose, slot_id=target.pk)
        except DomainError as error:
            event(f"move refused: {error.code}")
            return
        event(f"moved dose {dose}")
        self.model.series[series_id].moves += 1
        assert (
            Appointment.objects.get(series_id=series_id, dose_number=dose, status="booked").slot_id
            == target.pk
        )

    @rule(series_id=series)
    def cancel(self, series_id):
        model = self.model.series[series_id]
        booking_cancel(series_id=series_id)
        model.cancellations += model.active
        model.active = False

    @rule(series_id=series)
    def cancel_dose2(self, series_id):
        """No dose is given here: dose 2 alone is refused while dose 1 is to come
        (invariant 3), and the refusal changes nothing (the invariants recount it); a
        course begun elsewhere ends with its dose 2 cancelled, while it has one."""
        self._cancel_dose2(series_id)

    def _cancel_dose2(self, series_id):
        model = self.model.series[series_id]
        if not model.active:
            booking_dose2_cancel(series_id=series_id)  # a cancelled course answers as it is
            return
        waiting = not Appointment.objects.filter(series_id=series_id, status="booked").exists()
        if model.elsewhere and not waiting:
            booking_dose2_cancel(series_id=series_id)
            model.active = False
            model.cancellations += 1
            event("dose 2 alone cancelled")
            return
        with pytest.raises(InvalidInput):
            booking_dose2_cancel(series_id=series_id)
        event("dose 2 alone refused")

    @rule(index=st.integers(0, 100))
    def cancel_session(self, index):
        sessions = list(Session.objects.order_by("pk"))
        session = sessions[index % len(sessions)]
        affected = set(
            Appointment.objects.filter(slot__session=session, status="booked").values_list(
                "series_id", flat=True
            )
        )
        assert session_cancel(
            actor=STAFF, session_id=session.pk, reason="Livraison annulée."
        ) == len(affected)
        for series_id in affected:
            model = self.model.series[series_id]
            model.cancellations += 1
            # A course begun elsewhere keeps going, waiting for a new dose-2 date.
            model.active = model.elsewhere
        for hold_id in [h for h in self.model.holds if not Hold.objects.filter(pk=h).exists()]:
            del self.model.holds[hold_id]
        self.first_dose_slots = [
            slot for slot in self.first_dose_slots if slot.session_id != session.pk
        ] or self.first_dose_slots

    @invariant()
    def places_are_exactly_appointments_and_holds(self):
        if not hasattr(self, "model"):
            return
        for slot in Slot.objects.annotate(
            active=Count("appointments", filter=Q(appointments__status__in=["booked", "arrived"])),
        ):
            holds = Hold.objects.filter(Q(slot=slot) | Q(dose2_slot=slot)).count()
            assert 0 <= slot.booked <= slot.capacity
            assert slot.booked == slot.active + holds
        assert set(map(str, Hold.objects.values_list("pk", flat=True))) <= set(self.model.holds)

    @invariant()
    def stock_is_never_over_promised(self):
        if not hasattr(self, "model"):
            return
        for stock in Stock.objects.all():
            assert stock.committed + stock.given <= stock.delivered
            promised = sum(
                slot.capacity * slot.session.doses_per_place
                for slot in Slot.objects.select_related("session").filter(
                    site_id=stock.site_id, vaccine_id=stock.vaccine_id
                )
            )
            # A course begun elsewhere promised its one dose when it was booked.
            promised += Series.objects.filter(
                site_id=stock.site_id,
                vaccine_id=stock.vaccine_id,
                status="active",
                dose1_elsewhere_on__isnull=False,
            ).count()
            assert stock.committed == promised

    @invariant()
    def every_active_series_is_whole_and_alone(self):
        if not hasattr(self, "model"):
            return
        for series in Series.objects.select_related("vaccine"):
            assert (series.status == "active") == self.model.series[series.pk].active
            active = {
                a.dose_number: a.slot
                for a in series.appointments.select_related("slot").filter(
                    status__in=["booked", "arrived"]
                )
            }
            if series.status != "active":
                assert not active
                continue
            vaccine = series.vaccine
            if series.dose1_elsewhere_on is not None:
                # Never a dose 1 here; one dose 2 inside the interval after the day declared.
                assert not series.appointments.filter(dose_number=1).exists()
                assert set(active) <= {2}
                assert set(active) == {2} or self.model.series[series.pk].cancellations
                for slot in active.values():
                    gap = (slot.date - series.dose1_elsewhere_on).days
                    assert slot.site_id == series.site_id
                    assert vaccine.interval_min_days <= gap <= vaccine.interval_max_days
                continue
            assert set(active) == set(range(1, vaccine.doses_in_series + 1))
            assert all(slot.site_id == series.site_id for slot in active.values())
            if vaccine.doses_in_series == 2:
                gap = (active[2].date - active[1].date).days
                assert vaccine.interval_min_days <= gap <= vaccine.interval_max_days
        per_person = Series.objects.filter(status="active").values("person").annotate(n=Count("pk"))
        assert all(row["n"] == 1 for row in per_person)

    @invariant()
    def one_message_per_change(self):
        if not hasattr(self, "model"):
            return
        for series_id, model in self.model.series.items():
            reference = Series.objects.get(pk=series_id).reference
            sent = Notification.objects.filter(event__startswith=f"series:{reference}:")
            assert sent.filter(kind="booking_confirmed").count() == 1
            assert sent.filter(kind="booking_moved").count() == model.moves
            assert sent.filter(kind="booking_cancelled").count() == model.cancellations

    @invariant()
    def read_model_equals_a_recount(self):
        if hasattr(self, "model"):
            assert_read_model_equals_a_recount()


@pytest.mark.django_db
def test_booking_invariants_hold_whatever_the_sequence(reference):
    OUTCOMES.clear()
    run_state_machine_as_test(
        Booking,
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
    moved = OUTCOMES["moved dose 1"] + OUTCOMES["moved dose 2"]
    assert min(OUTCOMES["hold"], OUTCOMES["booked"], moved) > 0, OUTCOMES
    assert min(OUTCOMES["booked dose 2 alone"], OUTCOMES["dose 2 alone cancelled"]) > 0, OUTCOMES
