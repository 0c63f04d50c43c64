"""The link the alerts carry, made when each message is sent (outreach/rendering.py) from
the ids the outbox stores. Loaded by apps.py."""

from django.conf import settings

from creneau.outreach.rendering import message_secret

from . import tokens

STOP_LINK = "alert_stop_link"
# The portal's page for it (portal/urls.py); the key in the fragment, like BOOKING_LINK.
STOP_PATH = "/alertes/arreter/#cle={token}"


@message_secret(STOP_LINK)
def stop_link(subscription_ids: str) -> str:
    ids = [int(i) for i in subscription_ids.split(",")]
    return settings.PUBLIC_URL + STOP_PATH.format(token=tokens.stop_token(subscription_ids=ids))
