"""Personal data encrypted at rest, in the application, and the blind indexes that still
find it by equality (docs/architecture.md, "Personal data at rest").

A value is stored as `v1:<key id>:<base64url(nonce + AES-256-GCM ciphertext and tag)>`.
The key id says which key of the ring opens it, so that keys can be rotated while the
service runs (`manage.py keys_rotate`): values are written with the ring's first key and
read with whichever key they name. The authenticated data is the value's purpose (its
table and column), so a value copied into another column does not open there.

A blind index is an HMAC-SHA256, under a key of its own, of a value in its comparison
form: the database can compare two of them (a unique constraint, an equality lookup)
without being able to tell what they are. Knowing the ring's data keys does not give the
index key, nor the other way round.

The keys (settings FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY, or FIELD_KEYS_FILE) are
read once per process, when the application starts; a process without usable keys does
not start. Losing them is losing the data: see docs/operations.md, "Keys".
"""

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .text import text_normalize

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32
# The blind index's name in a key file, where the other lines are data keys.
BLIND_KEY_ID = "blind"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
# SHA-256's block: a key no longer than it is padded to it (RFC 2104); KEY_BYTES is.
_HMAC_BLOCK = 64


class KeyMissing(Exception):
    """A stored value names a key the ring does not have (removed too early, or the
    value was written by another installation)."""


class ValueTampered(Exception):
    """A stored value that its key does not open: altered, truncated or moved."""


@dataclass(frozen=True)
class KeyRing:
    current: str
    ciphers: dict[str, AESGCM]
    blind_key: bytes
    # HMAC's inner and outer hashes (RFC 2104) with the blind key already absorbed: a
    # blind index copies them instead of hashing the key's pads again each time (a
    # population import computes four a row).
    blind_pads: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = self.blind_key.ljust(_HMAC_BLOCK, b"\0")
        pads = tuple(hashlib.sha256(bytes(byte ^ pad for byte in key)) for pad in (0x36, 0x5C))
        object.__setattr__(self, "blind_pads", pads)


def _key_bytes(text: str, *, name: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{name}: a key is {KEY_BYTES} random bytes in base64 "
            "(python -c 'import secrets,base64; "
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')."
        )
    return key


def _pairs(lines: list[str], *, name: str) -> list[tuple[str, str]]:
    """`id:key` entries, in order."""
    pairs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key_id, _, key = line.partition(":")
        if not _KEY_ID.fullmatch(key_id) or not key:
            raise ImproperlyConfigured(f"{name}: each key is written <id>:<base64 key>.")
        pairs.append((key_id, key))
    return pairs


def key_ring_load() -> KeyRing:
    """The keys the settings give: FIELD_ENCRYPTION_KEYS (`id:key` entries, the first is
    the current one) and BLIND_INDEX_KEY, or else the file FIELD_KEYS_FILE (one `id:key`
    a line, the data keys first-is-current, and `blind:<key>`)."""
    if settings.FIELD_ENCRYPTION_KEYS:
        name = "FIELD_ENCRYPTION_KEYS"
        data = _pairs(list(settings.FIELD_ENCRYPTION_KEYS), name=name)
        blind = settings.BLIND_INDEX_KEY
        if not blind:
            raise ImproperlyConfigured("BLIND_INDEX_KEY must be set with FIELD_ENCRYPTION_KEYS.")
    else:
        name = f"FIELD_KEYS_FILE ({settings.FIELD_KEYS_FILE})"
        try:
            lines = Path(settings.FIELD_KEYS_FILE).read_text().splitlines()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}: cannot be read ({error}).") from error
        pairs = _pairs(lines, name=name)
        data = [(key_id, key) for key_id, key in pairs if key_id != BLIND_KEY_ID]
        blind = next((key for key_id, key in pairs if key_id == BLIND_KEY_ID), "")
        if not blind:
            raise ImproperlyConfigured(f"{name}: no line {BLIND_KEY_ID}:<key>.")
    if not data:
        raise ImproperlyConfigured(f"{name}: no data key.")
    ciphers = {key_id: AESGCM(_key_bytes(key, name=name)) for key_id, key in data}
    if len(ciphers) != len(data):
        raise ImproperlyConfigured(f"{name}: two keys have the same id.")
    return KeyRing(
        current=data[0][0], ciphers=ciphers, blind_key=_key_bytes(blind, name="BLIND_INDEX_KEY")
    )


@cache
def key_ring() -> KeyRing:
    return key_ring_load()


def _keys_changed(*, setting: str, **kwargs) -> None:
    # Tests that give other keys (rotation) get a ring made from them.
    if setting in ("FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "FIELD_KEYS_FILE"):
        key_ring.cache_clear()


setting_changed.connect(_keys_changed)


def key_new() -> str:
    """A new random key, as the settings and key files write it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def value_encrypt(plain: str, *, purpose: str) -> str:
    """`plain` sealed with the current key; `purpose` (the column) is authenticated."""
    return values_encrypt([plain], purpose=purpose)[0]


def values_encrypt(plains: Sequence[str], *, purpose: str) -> list[str]:
    """value_encrypt of each of `plains`, for a column sealed in bulk (a population
    import seals a million rows): the key, the prefix and the purpose worked out once,
    every nonce drawn by one call to the system's random source. Each value still has a
    nonce of its own."""
    ring = key_ring()
    encrypt = ring.ciphers[ring.current].encrypt
    associated = purpose.encode()
    prefix = f"{VERSION}:{ring.current}:"
    nonces = os.urandom(NONCE_BYTES * len(plains))
    sealed = []
    for start, plain in zip(range(0, len(nonces), NONCE_BYTES), plains, strict=True):
        nonce = nonces[start : start + NONCE_BYTES]
        body = base64.urlsafe_b64encode(nonce + encrypt(nonce, plain.encode(), associated))
        sealed.append(prefix + body.decode().rstrip("="))
    return sealed


def value_key_id(stored: str) -> str:
    """The id of the key a stored value was sealed with."""
    return _parts(stored)[1]


def _parts(stored: str) -> tuple[str, str, str]:
    version, _, rest = stored.partition(":")
    key_id, _, body = rest.partition(":")
    if version != VERSION or not body:
        raise ValueTampered(f"Not an encrypted value ({len(stored)} characters).")
    return version, key_id, body


def value_decrypt(stored: str, *, purpose: str) -> str:
    _, key_id, body = _parts(stored)
    cipher = key_ring().ciphers.get(key_id)
    if cipher is None:
        raise KeyMissing(f"The key {key_id!r} is not in the ring; it is needed to read {purpose}.")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise ValueTampered(f"A value of {purpose} does not open with key {key_id!r}.") from error


def blind_index(value: str, *, purpose: str) -> str:
    """The keyed hash of `value` (already in its comparison form) for `purpose`: equal
    values give equal indexes, and the same value gives unrelated indexes for two
    purposes, so that two columns cannot be joined on them."""
    # HMAC-SHA256 (the same as hmac.new(blind_key, message, "sha256")), from the pads
    # hashed once (KeyRing.blind_pads).
    inner_pad, outer_pad = key_ring().blind_pads
    inner = inner_pad.copy()
    inner.update(f"{purpose}\x00{value}".encode())
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def address_index(address: str, *, purpose: str) -> str:
    """The blind index of a postal, e-mail or phone address in its stored form (E.164,
    an e-mail address in lower case, a letter's lines), in NFKC, invisible characters
    out, case-folded. Accents stay: two mailboxes whose names differ by one are two
    people's, and codes for one must not go to the other. One comparison form for the
    contacts (booking) and the outbox (outreach), each under its own purpose."""
    return blind_index(text_normalize(address).shown.casefold(), purpose=purpose)
