"""The messages of a campaign (outreach's invitation kinds, sent last and stopped by an
opt-out; templates in templates/outreach/, rendered by outreach's worker) and the secrets
they carry, made when each is sent from the invitation's id:
its personal code, and the link that opens booking with it. Loaded by apps.py."""

from django.conf import settings

from creneau.booking.tokens import reference_display
from creneau.outreach.models import Notification
from creneau.outreach.rendering import message_secret
from creneau.outreach.sms import SendError

from .models import Invitation

KIND_INVITATION = Notification.Kind.INVITATION
KIND_REMINDER = Notification.Kind.INVITATION_REMINDER
INVITATION_CODE = "invitation_code"
INVITATION_LINK = "invitation_link"


def _code(invitation_id: str) -> str:
    code = Invitation.objects.filter(pk=int(invitation_id)).values_list("code", flat=True).first()
    if code is None:  # purged before its message went: retrying cannot bring it back
        raise SendError("the invitation this message carries no longer exists", permanent=True)
    return reference_display(code)


@message_secret(INVITATION_CODE)
def invitation_code(invitation_id: str) -> str:
    return _code(invitation_id)


@message_secret(INVITATION_LINK)
def invitation_link(invitation_id: str) -> str:
    """The portal's invitation page with the code in the fragment, which browsers never
    send: the code reaches no access log (the page's script fills the form with it)."""
    return settings.INVITATION_LINK.format(code=_code(invitation_id))
