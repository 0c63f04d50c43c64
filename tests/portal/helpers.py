"""What the portal's page tests share."""

import re

from creneau.booking.models import Cancellation
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.outreach.models import Notification
from tests.factories import STAFF, person, verified_contact


def cancelled_link(site, session, *, who=None) -> str:
    """Book the first slot of `session` for `who` (Jeanne, 80), cancel the session: the
    path of the link in the message."""
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
    body = Notification.objects.get(kind="booking_cancelled").body
    return re.search(r"/reprendre/[^/\s]+/", body)[0]
