"""The outbox: messages are rows written in the transaction of the change they report.

Sending them (SMS, e-mail, letters) is a worker's job; a rolled-back change leaves no
row, and a committed one leaves exactly one per channel (invariant 5).
"""

from django.template.loader import render_to_string
from django.utils import translation

from .models import Notification


def notification_enqueue(
    *, channel: str, to: str, kind: str, event: str, context: dict, language: str = "fr"
) -> Notification:
    """Write one message, rendered now so that what is sent is what the change was."""
    with translation.override(language):
        body = render_to_string(f"outreach/{kind}.txt", {**context, "channel": channel}).strip()
        subject = (
            render_to_string(f"outreach/{kind}.subject.txt", context).strip()
            if channel == Notification.Channel.EMAIL
            else ""
        )
    return Notification.objects.create(
        channel=channel,
        to=to,
        kind=kind,
        event=event,
        language=language,
        subject=subject,
        body=body,
    )
