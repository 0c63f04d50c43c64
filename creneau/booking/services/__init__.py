"""Contacts, holds, bookings, moves and cancellations: the booking engine, one module per
concern. Callers import from here; the modules are how it is kept, not how it is used.

Every place is taken by a conditional update on its slot (invariant 1); the doses behind
it were promised when the session opened (invariant 2). A booking takes dose 1 and
dose 2 in one transaction, both or neither (invariant 3). Locks follow the order of
scheduling.services: contact and series rows first, then slots (dose 1 before dose 2),
then stock, then the read model, then the outbox rows.
"""

from .bookings import MAX_PERSONS_PER_CONTACT, NAME_MAX_LENGTH, booking_confirm, booking_move
from .cancellations import (
    booking_cancel,
    booking_dose2_cancel,
    booking_dose2_rebook,
    booking_rebook,
    cancellation_create,
    session_cancel,
)
from .contacts import (
    CODE_RESEND_AFTER,
    CODE_VALIDITY,
    contact_for_agent,
    contact_get_or_create,
    contact_token_issue,
    contact_verification_confirm,
    contact_verification_start,
)
from .course import BookingResult, Override, PersonData
from .holds import (
    Holder,
    HoldResult,
    hold_create,
    hold_create_at,
    hold_release,
    hold_renew,
    holds_expire,
)

__all__ = [
    "CODE_RESEND_AFTER",
    "CODE_VALIDITY",
    "MAX_PERSONS_PER_CONTACT",
    "NAME_MAX_LENGTH",
    "BookingResult",
    "HoldResult",
    "Holder",
    "Override",
    "PersonData",
    "booking_cancel",
    "booking_confirm",
    "booking_dose2_cancel",
    "booking_dose2_rebook",
    "booking_move",
    "booking_rebook",
    "cancellation_create",
    "contact_for_agent",
    "contact_get_or_create",
    "contact_token_issue",
    "contact_verification_confirm",
    "contact_verification_start",
    "hold_create",
    "hold_create_at",
    "hold_release",
    "hold_renew",
    "holds_expire",
    "session_cancel",
]
