"""The links the waiting list's messages carry, made when each message is sent
(outreach/rendering.py) from the id the outbox stores. Loaded by apps.py."""

from django.conf import settings

from creneau.outreach.rendering import message_secret

from . import tokens

OFFER_LINK = "waitlist_offer_link"
ENTRY_LINK = "waitlist_entry_link"
# The portal's pages for them (portal/urls.py), like settings.BOOKING_LINK: the key in the
# fragment, which browsers never send, so that it reaches no access log.
OFFER_PATH = "/liste-attente/offre/ouvrir/#cle={token}"
ENTRY_PATH = "/liste-attente/inscription/ouvrir/#cle={token}"


@message_secret(OFFER_LINK)
def offer_link(offer_id: str) -> str:
    token = tokens.offer_token(offer_id=int(offer_id))
    return settings.PUBLIC_URL + OFFER_PATH.format(token=token)


@message_secret(ENTRY_LINK)
def entry_link(entry_id: str) -> str:
    token = tokens.entry_token(entry_id=int(entry_id))
    return settings.PUBLIC_URL + ENTRY_PATH.format(token=token)
