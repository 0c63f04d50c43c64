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
