"""The waiting list's refusals, each with its HTTP status (core.errors.DomainError)."""

from creneau.core.errors import DomainError


class AlreadyOnList(DomainError):
    """The person already has an active entry (one per person, across contacts)."""

    status = 409
    code = "already_on_list"


class OfferExpired(DomainError):
    """The offer's 20 minutes are over."""

    status = 410
    code = "offer_expired"


class OfferAnswered(DomainError):
    """The offer's link was used already (accepted, or found the places gone)."""

    status = 409
    code = "offer_answered"
