"""What a message says, made when it is sent: its template, its parameters, and the
secrets in it derived at that moment from the server's key, never stored.

The outbox row keeps the template (its `kind`), the parameters (JSON: a name, a date, a
site…) and, for each secret the message carries (a one-time code, a management or
rebooking link), only the key it is derived from: a verification id, a booking
reference, a cancellation item. A copy of the database therefore holds no code and no
link that opens anything, and no rendered text: what was sent is not kept.

The app that owns a secret says how to make it (`@message_secret("management_link")`,
in booking/messages.py, loaded by its AppConfig), so that outreach imports nothing
above it. The worker that sends a row, in another process and perhaps after retries,
derives the same value from the same key and the same server secret.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .models import Notification

Derive = Callable[[str], str]
_derivers: dict[str, Derive] = {}


def message_secret(kind: str) -> Callable[[Derive], Derive]:
    """Declare how a secret of this kind is made from its key (a string)."""

    def register(derive: Derive) -> Derive:
        _derivers[kind] = derive
        return derive

    return register


@dataclass(frozen=True)
class Secret:
    """A template value made when the message is sent: only `kind` and `key` are stored."""

    kind: str
    key: str | int


def parameters_split(context: dict) -> tuple[dict, dict]:
    """A message's context as its stored parameters and its secrets' keys
    (`derived`: name → [kind, key]). Refuses a secret nobody declared: it could never
    be sent."""
    parameters, derived = {}, {}
    for name, value in context.items():
        if isinstance(value, Secret):
            if value.kind not in _derivers:
                raise LookupError(f"no @message_secret declares {value.kind!r}")
            derived[name] = [value.kind, str(value.key)]
        else:
            parameters[name] = value
    return parameters, derived


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    # A reminder's or an invitation's unsubscribe link (also an e-mail's header).
    unsubscribe_link: str = ""


# What staff see of a message instead of its text, which is not kept (its state beside).
REDACTED = {
    Notification.Kind.VERIFICATION_CODE: _("Code de vérification (le code n'est pas conservé)"),
    Notification.Kind.BOOKING_CONFIRMED: _("Confirmation de rendez-vous"),
    Notification.Kind.BOOKING_MOVED: _("Changement de rendez-vous"),
    Notification.Kind.BOOKING_CANCELLED: _("Annulation de rendez-vous"),
    Notification.Kind.APPOINTMENT_REMINDER: _("Rappel de rendez-vous"),
    Notification.Kind.DOSE2_RECALL: _("Rappel de la 2e dose"),
}


def notification_redacted(*, notification: Notification) -> str:
    """What a message was, for a staff screen ("Confirmation de rendez-vous")."""
    return str(REDACTED.get(notification.kind, notification.get_kind_display()))


def secrets_derive(notification: Notification) -> dict[str, str]:
    """The secrets a message carries, made now from their stored keys."""
    return {name: _derivers[kind](key) for name, (kind, key) in notification.derived.items()}


def notification_render(*, notification: Notification) -> RenderedMessage:
    """The message as it goes out now: its secrets derived, its template rendered in the
    contact's language. Called by the sender (and the demo's outbox page), never stored.

    A row written before messages were rendered at sending time (migration
    outreach/0005) carries its text as it was written."""
    parameters = notification.parameters
    if "written_text" in parameters:
        return RenderedMessage(
            subject=parameters.get("written_subject", ""), body=parameters["written_text"]
        )
    context = {
        **parameters,
        **secrets_derive(notification),
        "channel": notification.channel,
        "call_centre_phone": settings.CALL_CENTRE_PHONE,
    }
    kind = notification.kind
    with translation.override(notification.language):
        body = render_to_string(f"outreach/{kind}.txt", context).strip()
        subject = (
            render_to_string(f"outreach/{kind}.subject.txt", context).strip()
            if notification.channel == Notification.Channel.EMAIL
            else ""
        )
    return RenderedMessage(
        subject=subject, body=body, unsubscribe_link=context.get("unsubscribe_link", "")
    )


# The unsubscribe link of a reminder or an invitation (notification_enqueue adds it): the
# key stored is the address's blind index, the link signed with the server's secret
# when the message is sent. It only ever stops reminders and invitations to that
# address, so it lives in the path (one click, no JavaScript), unlike the booking's keys.
UNSUBSCRIBE_LINK = "unsubscribe_link"
UNSUBSCRIBE_SALT = "creneau.outreach.unsubscribe"


@message_secret(UNSUBSCRIBE_LINK)
def unsubscribe_link(address_index: str) -> str:
    token = signing.Signer(salt=UNSUBSCRIBE_SALT).sign(address_index)
    return settings.UNSUBSCRIBE_LINK.format(token=token)


def unsubscribe_token_read(token: str) -> str | None:
    """The address index an unsubscribe link names, or None when it was not signed here."""
    try:
        return signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
