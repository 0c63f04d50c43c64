"""The secrets booking's messages carry, made when each message is sent (outreach's
worker calls these through outreach/rendering.py) from a key the outbox stores: a
verification id, a booking reference, a cancellation item. Loaded by apps.py."""

from django.conf import settings

from creneau.outreach.rendering import message_secret
from creneau.outreach.sms import SendError

from . import tokens
from .models import Series

VERIFICATION_CODE = "verification_code"
MANAGEMENT_LINK = "management_link"
REBOOK_LINK = "rebook_link"


@message_secret(VERIFICATION_CODE)
def verification_code(verification_id: str) -> str:
    return tokens.one_time_code(verification_id=verification_id)


@message_secret(MANAGEMENT_LINK)
def management_link(reference: str) -> str:
    """The booking's page with its key in the fragment, which browsers never send: the key
    reaches no access log (portal's "open" page posts it)."""
    salt = Series.objects.filter(reference=reference).values_list("token_salt", flat=True).first()
    if salt is None:  # purged before its message went: retrying cannot bring it back
        raise SendError("the booking this message links to no longer exists", permanent=True)
    return settings.BOOKING_LINK.format(
        reference=tokens.reference_display(reference),
        token=tokens.management_token(reference=reference, salt=salt),
    )


@message_secret(REBOOK_LINK)
def rebook_link(item_id: str) -> str:
    return settings.REBOOK_LINK.format(token=tokens.rebook_token(item_id=int(item_id)))
