"""Abuse limits: how often one client, one address, one phone number or the whole
service may do something costly (send an SMS, hold places, book), counted in the shared
counters and refused with 429 and a Retry-After once spent.

Each limit is a setting of the form "<hits>/<seconds>[,<hits>/<seconds>…]" (see
creneau/settings.py for the defaults and docs/operations.md for why); "0" or empty
turns a limit off.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from creneau.core.clients import network_key
from creneau.core.crypto import blind_index
from creneau.core.errors import TooManyRequests
from creneau.core.metrics import REFUSALS

from .counters import counter_add


@dataclass(frozen=True)
class Window:
    hits: int
    seconds: int


def windows_parse(text: str) -> tuple[Window, ...]:
    """'5/3600,10/86400' → two windows; '' or '0' → none (the limit is off)."""
    windows = []
    for part in text.replace(" ", "").split(","):
        if part in ("", "0"):
            continue
        hits, _, seconds = part.partition("/")
        windows.append(Window(int(hits), int(seconds or 60)))
    return tuple(windows)


# What each limit counts, and what the person refused is told. The setting's name is
# LIMIT_<NAME upper-cased>.
MESSAGES = {
    "codes_per_number": gettext_lazy(
        "Trop de codes envoyés à ce numéro ou à cette adresse. Réessayez dans %(wait)s, "
        "ou appelez le centre d'appel."
    ),
    "codes_per_address": gettext_lazy(
        "Trop de codes demandés depuis cette connexion. Réessayez dans %(wait)s."
    ),
    "sms_per_minute": gettext_lazy(
        "Beaucoup de personnes demandent un code en ce moment. Réessayez dans %(wait)s."
    ),
    "holds_per_client": gettext_lazy(
        "Vous avez choisi puis laissé beaucoup de créneaux. Réessayez dans %(wait)s."
    ),
    "bookings_per_contact": gettext_lazy(
        "Trop de réservations essayées avec ce contact aujourd'hui. Réessayez dans %(wait)s, "
        "ou appelez le centre d'appel."
    ),
    "sign_in_failures_per_address": gettext_lazy(
        "Trop de connexions refusées depuis cette connexion. Réessayez dans %(wait)s, ou "
        "demandez à votre responsable."
    ),
    "password_resets_per_address": gettext_lazy(
        "Trop de demandes de nouveau mot de passe depuis cette connexion. Réessayez dans %(wait)s."
    ),
    "applications_per_address": gettext_lazy(
        "Trop de demandes d'adhésion depuis cette connexion. Réessayez dans %(wait)s."
    ),
}


def limit_hit(*, name: str, key: str, now: float | None = None) -> None:
    """Count one hit of `key` against the limit `name`; TooManyRequests (with the seconds
    to wait) when one of its windows is spent. A refused hit still counts: asking again
    at once does not help."""
    for window in windows_parse(getattr(settings, f"LIMIT_{name.upper()}")):
        count = counter_add(key=f"{name}:{key}:{window.seconds}", window=window.seconds, now=now)
        if count.hits > window.hits:
            REFUSALS.labels("admission", name).inc()
            raise TooManyRequests(
                MESSAGES[name] % {"wait": _duration(count.resets_in)},
                retry_after=count.resets_in,
                limit=name,
            )


# How long a failed sign-in marks the address it came from for that account: the current
# hour's window and the one before it (fixed windows: between one and two hours).
SIGN_IN_ADDRESS_MEMORY = 3600


def sign_in_admit(*, address: str | None, now: float | None = None) -> None:
    """Before a staff password is even checked: an address that failed too often, across
    any accounts (password spraying: one password tried on many names), is refused until
    its window ends (TooManyRequests). Reading a count adds nothing to it."""
    network = network_key(address) or "unknown"
    name = "sign_in_failures_per_address"
    for window in windows_parse(settings.LIMIT_SIGN_IN_FAILURES_PER_ADDRESS):
        count = counter_add(
            key=f"{name}:{network}:{window.seconds}", window=window.seconds, amount=0, now=now
        )
        if count.hits >= window.hits:
            REFUSALS.labels("admission", name).inc()
            raise TooManyRequests(
                MESSAGES[name] % {"wait": _duration(count.resets_in)},
                retry_after=count.resets_in,
                limit=name,
            )


def sign_in_failure_count(*, username: str, address: str | None, now: float | None = None) -> None:
    """A refused sign-in: one more against the address (all accounts), and a mark of this
    address on this account (`sign_in_failed_from`)."""
    network = network_key(address) or "unknown"
    name = "sign_in_failures_per_address"
    for window in windows_parse(settings.LIMIT_SIGN_IN_FAILURES_PER_ADDRESS):
        counter_add(key=f"{name}:{network}:{window.seconds}", window=window.seconds, now=now)
    counter_add(key=_account_address_key(username, network), window=SIGN_IN_ADDRESS_MEMORY, now=now)


def sign_in_failed_from(*, username: str, address: str | None, now: float | None = None) -> bool:
    """Whether a sign-in to this account failed from this address within the last hour or
    two: while the account is locked, only an address that has not failed may still sign
    in to it, and only with the second factor (so that nobody can lock a nurse out by
    typing wrong passwords under her name)."""
    network = network_key(address) or "unknown"
    key = _account_address_key(username, network)
    return any(
        counter_add(key=key, window=SIGN_IN_ADDRESS_MEMORY, amount=0, now=at).hits > 0
        for at in (now, (now if now is not None else time.time()) - SIGN_IN_ADDRESS_MEMORY)
    )


def _account_address_key(username: str, network: str) -> str:
    # Account names are up to 150 characters of anything: a digest keeps the key short.
    account = hashlib.sha256(username.lower().encode()).hexdigest()[:24]
    return f"sign_in_failures_per_account:{account}:{network}"


def code_send_admit(*, channel: str, address: str) -> None:
    """The limits on one more code to a phone number or e-mail address (in E.164 or
    lower case), and on the service's SMS budget. Called once the one-a-minute rule let
    the code go (booking's contact_verification_start), so a double click costs nothing."""
    # Counted under the number's blind index: the counters (a table without Redis) never
    # hold a phone number or an e-mail address.
    limit_hit(name="codes_per_number", key=blind_index(address, purpose="admission.codes"))
    if channel == "sms":
        limit_hit(name="sms_per_minute", key="service")


def _duration(seconds: int) -> str:
    if seconds < 120:
        return gettext("%(n)d s") % {"n": seconds}
    if seconds < 2 * 3600:
        return gettext("%(n)d min") % {"n": (seconds + 59) // 60}
    return gettext("%(n)d h") % {"n": (seconds + 3599) // 3600}
