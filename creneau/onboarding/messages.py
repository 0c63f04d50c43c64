"""The link of a staff invitation, made when its e-mail is sent (outreach/rendering.py)
from the invitation id the outbox stores, so neither the outbox nor the invitation row
holds a link that opens anything. Loaded by apps.py."""

import base64
import hashlib
import hmac

from django.conf import settings

from creneau.outreach.rendering import message_secret

INVITATION_LINK = "staff_invitation_link"
# The back office's page for it (backoffice/urls.py).
INVITATION_PATH = "/backoffice/invitation/{token}/"


def invitation_token(*, invitation_id: int) -> str:
    """HMAC(SECRET_KEY, id): whoever lacks the key cannot make one for another id."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"staff-invitation:{invitation_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@message_secret(INVITATION_LINK)
def invitation_link(invitation_id: str) -> str:
    token = invitation_token(invitation_id=int(invitation_id))
    return settings.PUBLIC_URL + INVITATION_PATH.format(token=token)
