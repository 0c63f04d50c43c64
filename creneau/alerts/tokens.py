"""The key of the "stop these alerts" link in every alert: the subscriptions it names,
signed with the server's secret (the outbox stores only their ids). It travels in the
link's fragment (`/alertes/arreter/#cle=…`), which no access log sees."""

from django.core import signing

STOP_SALT = "creneau.alerts.stop"
# A subscription lasts 30 days; a message's link a little longer.
STOP_MAX_AGE = 40 * 24 * 3600
MAX_IDS = 20


def stop_token(*, subscription_ids: list[int]) -> str:
    return signing.dumps(sorted(subscription_ids), salt=STOP_SALT, compress=False)


def stop_ids_read(*, token: str) -> list[int] | None:
    """The subscriptions a key names, or None if forged, altered or too old."""
    if len(token) > 400:
        return None
    try:
        value = signing.loads(token, salt=STOP_SALT, max_age=STOP_MAX_AGE)
    except signing.BadSignature:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_IDS
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    ):
        return None
    return value
