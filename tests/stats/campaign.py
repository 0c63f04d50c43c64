"""A small campaign played day by day through the real services, at random (seeded):
bookings at any hour, moves, cancellations, deliveries received, doses given and
withdrawn, no-shows; a Paris centre (two doses) and a Réunion one (one dose, three hours
ahead of Paris) so that local days differ."""

import contextlib
import datetime as dt
import random
from dataclasses import dataclass, field

from django.db.models import F

from creneau.booking.models import Appointment, Series
from creneau.booking.services import PersonData, booking_cancel, booking_confirm, hold_create
from creneau.booking.services.bookings import booking_move
from creneau.care.services import (
    administration_record,
    administration_withdraw,
    appointment_check_in,
    noshows_mark,
)
from creneau.core.actor import Actor
from creneau.core.errors import DomainError
from creneau.scheduling.models import Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Delivery
from creneau.vaccines.services import delivery_receive, delivery_record
from tests.factories import LOT, make_site, open_session, vaccine, verified_contact

# A Monday in winter: Paris is UTC+1, Réunion UTC+4.
FIRST_DAY = dt.date(2027, 1, 4)
DOSE1_DAYS = 8
COMIRNATY_INTERVAL = 42


@dataclass
class Campaign:
    clock: object
    nurse: object
    rng: random.Random
    sites: dict[str, Site] = field(default_factory=dict)
    phones: int = 0

    @property
    def actor(self) -> Actor:
        return Actor(user=self.nurse)

    def prepare(self) -> None:
        self.clock.at(FIRST_DAY, 6)
        self.sites = {
            "comirnaty": make_site(insee_code="75117", name="Centre Paris"),
            "janssen": make_site(insee_code="97411", name="Centre Saint-Denis"),
        }
        for code, site in self.sites.items():
            for n in range(4):
                delivery_record(
                    site=site,
                    vaccine=vaccine(code),
                    quantity=300,
                    expected_on=FIRST_DAY + dt.timedelta(days=2 * n),
                    lot=LOT,
                )
            for n in range(1, DOSE1_DAYS + 1):
                day = FIRST_DAY + dt.timedelta(days=n)
                open_session(site, code=code, day=day, lines=2)
                if code == "comirnaty":
                    open_session(
                        site,
                        code=code,
                        day=day + dt.timedelta(days=COMIRNATY_INTERVAL),
                        lines=2,
                        dose_number=2,
                    )

    def play(self, day: dt.date) -> None:
        """One day: deliveries in the morning, the day's doses and no-shows, bookings,
        moves and cancellations at random hours, Réunion's evening included."""
        self._deliveries(day)
        self._doses(day)
        events = sorted(
            (self.rng.randint(6 * 60, 23 * 60), kind)
            for kind in self.rng.choices(["book", "book", "book", "move", "cancel"], k=12)
        )
        for minute, kind in events:
            self.clock.at(day, minute // 60, minute % 60)
            getattr(self, f"_{kind}")(day)
        # Réunion's day ended three hours ago.
        self.clock.at(day, 23, 40)
        for site in self.sites.values():
            noshows_mark(actor=self.actor, site_id=site.pk, day=day)

    def _deliveries(self, day: dt.date) -> None:
        self.clock.at(day, 7)
        for delivery in Delivery.objects.filter(status="expected", expected_on__lte=day):
            if delivery.expected_on == FIRST_DAY or self.rng.random() < 0.5:
                delivery_receive(actor=self.actor, delivery_id=delivery.pk)

    def _doses(self, day: dt.date) -> None:
        """Each appointment of the day given at its time, or not (a no-shows run comes
        at night); now and then a dose recorded by mistake is withdrawn."""
        due = Appointment.objects.filter(
            slot__date=day, status=Appointment.Status.BOOKED
        ).select_related("slot")
        for appointment in due.order_by("slot__start", "pk"):
            if self.rng.random() < 0.25:
                continue
            self.clock.now = appointment.slot.start
            site_id = appointment.slot.site_id
            appointment_check_in(actor=self.actor, appointment_id=appointment.pk, site_id=site_id)
            administration_record(
                actor=self.actor, appointment_id=appointment.pk, site_id=site_id, lot=LOT
            )
            if self.rng.random() < 0.1:
                administration_withdraw(
                    actor=self.actor,
                    appointment_id=appointment.pk,
                    site_id=site_id,
                    reason="Erreur de saisie",
                )

    def _free_slot(self, day: dt.date, *, site: Site | None = None) -> Slot | None:
        slots = Slot.objects.filter(
            dose_number=1,
            start__gt=self.clock.now,
            date__lte=day + dt.timedelta(days=6),
            booked__lt=F("capacity"),
        )
        if site is not None:
            slots = slots.filter(site=site)
        ids = list(slots.values_list("pk", flat=True))
        return Slot.objects.get(pk=self.rng.choice(ids)) if ids else None

    def _book(self, day: dt.date) -> None:
        slot = self._free_slot(day)
        if slot is None:
            return
        self.phones += 1
        age = self.rng.randint(56 if slot.vaccine.code == "janssen" else 18, 95)
        birth = slot.date.replace(year=slot.date.year - age) - dt.timedelta(
            days=self.rng.randint(0, 364)
        )
        try:
            hold = hold_create(slot_id=slot.pk).hold
            booking_confirm(
                hold_id=hold.pk,
                contact=verified_contact(f"+336{self.phones:08d}"),
                person=PersonData(
                    given_name=f"Personne{self.phones}", family_name="Test", birth_date=birth
                ),
            )
        except DomainError:
            pass

    def _some_course(self) -> Series | None:
        ids = list(
            Series.objects.filter(
                status="active", appointments__status="booked", appointments__dose_number=1
            ).values_list("pk", flat=True)
        )
        return Series.objects.get(pk=self.rng.choice(ids)) if ids else None

    def _move(self, day: dt.date) -> None:
        series = self._some_course()
        slot = series and self._free_slot(day, site=series.site)
        if slot is None:
            return
        with contextlib.suppress(DomainError):  # a refusal is one of the random outcomes
            booking_move(series_id=series.pk, dose_number=1, slot_id=slot.pk)

    def _cancel(self, day: dt.date) -> None:
        series = self._some_course()
        if series is None:
            return
        with contextlib.suppress(DomainError):
            booking_cancel(series_id=series.pk, reason="")
