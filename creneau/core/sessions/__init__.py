"""Sessions whose data is encrypted at rest: a booking in progress keeps the person's
names, birth date and the number a code went to in its session until it is confirmed.
Django stores a session's data signed but readable (base64 JSON); these stores seal it
with the data keys (core.crypto) as well. SESSION_ENGINE is `creneau.core.sessions.db`,
or `.cached_db` with Redis (the cache holds sessions in memory only).

A session that does not open (sealed with a key since removed from the ring, or written
before sealing) is an empty one, as Django treats a bad signature: its visitor starts
again (staff sign in again)."""

from django.contrib.sessions.backends.base import SessionBase

from creneau.core.crypto import KeyMissing, ValueTampered, value_decrypt, value_encrypt

PURPOSE = "django_session.session_data"


class SealedSession(SessionBase):
    def encode(self, session_dict) -> str:
        return value_encrypt(super().encode(session_dict), purpose=PURPOSE)

    def decode(self, session_data: str) -> dict:
        try:
            opened = value_decrypt(session_data, purpose=PURPOSE)
        except (KeyMissing, ValueTampered):
            return {}
        return super().decode(opened)
