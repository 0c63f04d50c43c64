"""The keys of the waiting list's links: an offer's (personal, 20 minutes, answered once:
the offer's status decides) and an entry's (renew or leave the list, from any message).
Signed with the server's secret; the rows store only the ids they are made from."""

from django.core import signing

OFFER_SALT = "creneau.waitlist.offer"
ENTRY_SALT = "creneau.waitlist.entry"
# An offer's own `expires_at` decides; the signature's age only bounds a key's life.
OFFER_MAX_AGE = 24 * 3600
# An entry lasts 30 days and may be renewed once more: its link, 60.
ENTRY_MAX_AGE = 60 * 24 * 3600


def offer_token(*, offer_id: int) -> str:
    return signing.dumps(offer_id, salt=OFFER_SALT, compress=False)


def offer_id_read(*, token: str) -> int | None:
    """The offer a key names, or None if forged, altered or too old."""
    return _read(token, salt=OFFER_SALT, max_age=OFFER_MAX_AGE)


def entry_token(*, entry_id: int) -> str:
    return signing.dumps(entry_id, salt=ENTRY_SALT, compress=False)


def entry_id_read(*, token: str) -> int | None:
    return _read(token, salt=ENTRY_SALT, max_age=ENTRY_MAX_AGE)


def _read(token: str, *, salt: str, max_age: int) -> int | None:
    if len(token) > 200:
        return None
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
