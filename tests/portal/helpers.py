"""What the portal's page tests share."""

import re

from creneau.booking.models import Cancellation
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.factories import STAFF, person, verified_contact


def link_open(client, body: str) -> str:
    """Open the rebooking link in a message as portal.js does (its key, in the fragment,
    posted): the path of the pages that follow in this browser."""
    key = re.search(r"/reprendre/ouvrir/#cle=(\S+)", body)[1]
    opened = client.post("/reprendre/ouvrir/", {"cle": key})
    assert opened.status_code == 302, opened
    return opened["Location"]


def cancelled_link(client, site, session, *, who=None) -> str:
    """Book the first slot of `session` for `who` (Jeanne, 80), cancel the session, open
    the link in the message: the path of the rebooking pages."""
    slot = session.slots.order_by("start").first()
    booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        contact=verified_contact(),
        person=who or person(),
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=session.pk,
        reason="Livraison retardée.",
    )
    body = notification_render(notification=Notification.objects.get(kind="booking_cancelled")).body
    return link_open(client, body)
