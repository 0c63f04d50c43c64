"""The alerts' refusals, each with its HTTP status (core.errors.DomainError)."""

from creneau.core.errors import DomainError


class AlreadySubscribed(DomainError):
    """The person already has a running alert with this contact."""

    status = 409
    code = "already_subscribed"
