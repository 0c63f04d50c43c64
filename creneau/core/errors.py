"""Domain errors: one place, one plain-language message each.

Services raise them; the API and the pages turn them into a 4xx answer with the
message (`status` says which). Nothing here knows about HTTP beyond that number.
"""


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """The same answer for a missing object and one the caller may not see."""

    status = 404
    code = "not_found"


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class LotNotReceived(InvalidInput):
    """A lot number the site has no delivery of: doses lent by another site, or a typing
    mistake. Recorded only once the desk says which (a second submit, confirmed)."""

    code = "lot_not_received"


class PastUnconfirmed(InvalidInput):
    """A date already past, for a change that then applies at once: saved only once the
    member of staff confirms it (a second submit, with the box ticked)."""

    code = "past_unconfirmed"


class PlaceNotFound(DomainError):
    status = 400
    code = "place_not_found"


class AmbiguousPlace(DomainError):
    status = 400
    code = "place_ambiguous"


class StockInsufficient(DomainError):
    status = 409
    code = "stock_insufficient"


class CapacityBelowBooked(DomainError):
    status = 409
    code = "capacity_below_booked"


class SessionNotOpen(DomainError):
    status = 409
    code = "session_not_open"


class NotEligible(DomainError):
    """No eligibility rule in force admits this person for this dose (invariant 6)."""

    status = 403
    code = "not_eligible"


class SiteRestricted(DomainError):
    """The site takes only some categories of people, and this person is in none."""

    status = 403
    code = "site_restricted"


class SlotUnavailable(DomainError):
    """The slot is full, held by others, in the past, or not bookable for this dose."""

    status = 409
    code = "slot_unavailable"


class HoldExpired(DomainError):
    status = 410
    code = "hold_expired"


class Dose2Unavailable(DomainError):
    """No second-dose slot at the same site inside the product's interval."""

    status = 409
    code = "dose2_unavailable"


class AlreadyBooked(DomainError):
    status = 409
    code = "already_booked"


class IdempotencyKeyReused(DomainError):
    status = 409
    code = "idempotency_key_reused"


class TooManyPersons(DomainError):
    status = 409
    code = "too_many_persons"


class Unauthorized(DomainError):
    """Missing or invalid credentials (contact token)."""

    status = 401
    code = "unauthorized"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


class WaitYourTurn(DomainError):
    """The waiting room is full ahead of this visitor: come back after `retry_after`
    seconds with the ticket (admission.waiting_room)."""

    status = 503
    code = "waiting_room"


class CodeInvalid(DomainError):
    status = 400
    code = "code_invalid"


class CodeExpired(DomainError):
    status = 410
    code = "code_expired"


class SignatureInvalid(DomainError):
    """A signed request (a provider's webhook) whose signature or time does not hold."""

    status = 403
    code = "signature_invalid"
