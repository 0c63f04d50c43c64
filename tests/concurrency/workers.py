"""What each racing process does: plain functions the children import by name."""

from datetime import date, time

from creneau.core.errors import DomainError
from creneau.scheduling.services import session_open
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine


def open_sessions(site_id: int, day: str, attempts: int) -> list[str]:
    site = Site.objects.select_related("department").get(pk=site_id)
    comirnaty = Vaccine.objects.get(code="comirnaty")
    outcomes = []
    for attempt in range(attempts):
        try:
            session_open(
                site=site,
                vaccine=comirnaty,
                day=date.fromisoformat(day),
                start_time=time(8 + attempt % 10),
                end_time=time(8 + attempt % 10, 30),
                lines=2,
            )
            outcomes.append("opened")
        except DomainError as error:
            outcomes.append(error.code)
    return outcomes


def book_in_a_loop(slot_ids: list[int], phone: str, people: int) -> list[str]:
    """One client process: for each person, hold the first slot that is free and book."""
    from django.utils import timezone

    from creneau.booking.models import Contact
    from creneau.booking.services import (
        PersonData,
        booking_confirm,
        contact_get_or_create,
        hold_create,
    )

    contact = contact_get_or_create(channel="sms", address=phone)
    Contact.objects.filter(pk=contact.pk).update(verified_at=timezone.now())
    outcomes = []
    for number in range(people):
        outcome = "no_slot"
        for slot_id in slot_ids:
            try:
                hold = hold_create(slot_id=slot_id).hold
                booking_confirm(
                    hold_id=hold.pk,
                    contact=contact,
                    person=PersonData(
                        given_name=f"Personne {number}",
                        # Letters and the number: a name has a letter, each process its own people.
                        family_name=f"Martin {phone}",
                        birth_date=date(1950, 1, 1),
                    ),
                    idempotency_key=f"{phone}-{number}",
                )
                outcome = "booked"
                break
            except DomainError as error:
                outcome = error.code
        outcomes.append(outcome)
    return outcomes


def count_hits(key: str, hits: int) -> int:
    """One process adding to a shared counter, hit by hit."""
    from creneau.admission.counters import counter_add

    return max(counter_add(key=key, window=10**9).hits for _ in range(hits))


def draw_tickets(count: int, redis_url: str) -> list[int]:
    """One app process: visitors arriving one after another at a full waiting room."""
    from django.conf import settings

    from creneau.admission.waiting_room import admission_decide

    settings.WAITING_ROOM_RATE = 0.001
    settings.WAITING_ROOM_BURST_SECONDS = 0
    settings.REDIS_URL = redis_url or None
    return [admission_decide(signed_ticket=None).ticket.number for _ in range(count)]


def audit_record_many(worker: int, count: int) -> int:
    """`count` staff actions, each a unit of work recording two events, and as many
    looks recorded on their own."""
    from creneau.audit.services import audit_record
    from creneau.core.actor import Actor
    from creneau.core.db import unit_of_work

    actor = Actor(user=None, ip="192.0.2.7")

    @unit_of_work
    def action(n: int) -> None:
        audit_record(actor=actor, action="change", object_type="test", object_id=f"{worker}:{n}")
        audit_record(actor=actor, action="override", object_type="test", object_id=f"{worker}:{n}")

    for n in range(count):
        action(n)
        audit_record(actor=actor, action="view", object_type="test", object_id=f"{worker}:{n}")
    return 3 * count
