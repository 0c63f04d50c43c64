"""References people read over the phone, and the secrets that go with them.

A reference is 8 random Crockford base-32 characters (40 bits) and a check character
(Luhn mod 32, from the same alphabet, so it reads over the phone like the rest), shown
as "ABCD-EFGH-K": no I, L, O or U to misread, and a mistyped character or two swapped
neighbours are caught before any lookup. It names a booking; it does not open it. The
management token does, and the one-time codes of contact verification prove a contact.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
DATA_LENGTH = 8


def _check_character(data: str) -> str:
    """Luhn mod N: every other character counts double, its digits in base 32 summed."""
    total = 0
    for position, character in enumerate(reversed(data)):
        value = _ALPHABET.index(character) * (2 if position % 2 == 0 else 1)
        total += value // 32 + value % 32
    return _ALPHABET[-total % 32]


def reference_new() -> str:
    data = "".join(secrets.choice(_ALPHABET) for _ in range(DATA_LENGTH))
    return data + _check_character(data)


def _compact(text: str) -> str:
    """What was typed or read out, without spaces and dashes, misread letters mended."""
    return "".join(text.split()).replace("-", "").upper().translate(_READ_AS)


def reference_shaped(text: str) -> bool:
    """Whether text reads as a reference, its check character right or not: nine
    characters of the alphabet, a letter among them (a phone number has none)."""
    compact = _compact(text)
    return (
        len(compact) == DATA_LENGTH + 1
        and all(character in _ALPHABET for character in compact)
        and not compact.isdigit()
    )


def reference_normalize(text: str) -> str | None:
    """The stored form of what someone typed or read out, or None if it cannot be one."""
    compact = _compact(text)
    if len(compact) != DATA_LENGTH + 1:
        return None
    data, check = compact[:-1], compact[-1]
    if any(character not in _ALPHABET for character in data):
        return None
    return compact if _check_character(data) == check else None


def reference_display(reference: str) -> str:
    return f"{reference[:4]}-{reference[4:8]}-{reference[8:]}"


def _mac(*parts: str) -> str:
    message = ":".join(parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def management_token(*, reference: str, salt: str) -> str:
    """Derived, not stored: a retried booking request can be answered with the same token,
    and a leaked database alone opens nothing."""
    return _mac("management", reference, salt)[:32]


def management_token_matches(*, reference: str, salt: str, token: str) -> bool:
    return hmac.compare_digest(management_token(reference=reference, salt=salt), token)


def salt_new() -> str:
    return secrets.token_hex(8)


def one_time_code(*, verification_id: str) -> str:
    """A verification's 6-digit code, derived from the server's secret and never stored:
    the message worker makes it again when it sends the code (in another process, after
    retries), and the database keeps only its hash. Unpredictable without SECRET_KEY, as
    a random one; whoever has the key could forge a contact token anyway."""
    return f"{int(_mac('code-value', verification_id)[:16], 16) % 10**6:06d}"


def code_hash_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected, given)


def one_time_code_hash(*, verification_id: str, code: str) -> str:
    return _mac("code", verification_id, code)


REBOOK_SALT = "creneau.booking.rebook"
# The link in a cancellation message works for a month.
REBOOK_MAX_AGE = 30 * 24 * 3600


def rebook_token(*, item_id: int) -> str:
    """The key of the rebooking link sent to a person whose appointment was cancelled."""
    return signing.dumps(item_id, salt=REBOOK_SALT)


def rebook_item_id(*, token: str) -> int | None:
    """The cancellation item a rebooking key names, or None if forged or expired."""
    try:
        item_id = signing.loads(token, salt=REBOOK_SALT, max_age=REBOOK_MAX_AGE)
    except signing.BadSignature:
        return None
    return item_id if isinstance(item_id, int) else None
