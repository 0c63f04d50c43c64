"""Rebooking from a cancellation message: the product may change when the rules open
another one to the person, a staff override does not stretch to it, and the dose 2 the
confirmation showed is the one booked."""

import re
from datetime import time, timedelta

import pytest

from creneau.booking.models import Cancellation, CancellationItem
from creneau.booking.selectors import rebook_item_get, rebook_offers, rebook_preview
from creneau.booking.services import (
    Override,
    booking_confirm,
    booking_rebook,
    cancellation_create,
    hold_create,
)
from creneau.core.errors import SiteRestricted
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import Slot
from tests.factories import (
    STAFF,
    deliver,
    open_session,
    person,
    tomorrow,
    two_dose_site,
    verified_contact,
)

DAY = tomorrow()


def cancelled_item(site, session, **booking) -> CancellationItem:
    booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk).hold.pk,
        contact=verified_contact(),
        **{"person": person(), **booking},
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=session.pk,
        reason="Grève.",
    )
    body = notification_render(notification=Notification.objects.get(kind="booking_cancelled")).body
    return rebook_item_get(token=re.search(r"/reprendre/ouvrir/#cle=(\S+)", body)[1])


def test_a_staff_override_carries_to_the_same_product_only(reference, django_user_model):
    """An agent booked a non-caregiver into a caregivers' centre: rebooked there with the
    same product, the override stands; another product would need the rules to admit them."""
    site, session = two_dose_site(name="Centre des soignants", restricted_to=["caregiver"])
    open_session(site, day=DAY + timedelta(days=1))
    deliver(site, 100, code="spikevax")
    open_session(site, code="spikevax", day=DAY + timedelta(days=1), start=time(11), end=time(12))
    open_session(site, code="spikevax", day=DAY + timedelta(days=43), dose_number=2)
    agent = django_user_model.objects.create_user(username="agent")
    item = cancelled_item(
        site, session, override=Override(by=agent, reason="Aide-soignante en formation")
    )
    spikevax = Slot.objects.filter(vaccine__code="spikevax", dose_number=1).first()
    comirnaty = Slot.objects.filter(date=DAY + timedelta(days=1), vaccine__code="comirnaty")[0]

    offered = {offer.vaccine.code for offer in rebook_offers(item=item).offers}
    with pytest.raises(SiteRestricted):
        rebook_preview(item=item, slot_id=spikevax.pk)
    with pytest.raises(SiteRestricted):
        booking_rebook(item_id=item.pk, slot_id=spikevax.pk)
    result = booking_rebook(item_id=item.pk, slot_id=comirnaty.pk)

    assert offered == {"comirnaty"}
    assert result.series.override_by == agent and result.series.vaccine.code == "comirnaty"


def test_the_dose_2_the_confirmation_showed_is_the_one_booked(reference):
    site, session = two_dose_site(name="Centre Wagram")
    open_session(site, day=DAY + timedelta(days=1))
    item = cancelled_item(site, session)
    slot = Slot.objects.filter(date=DAY + timedelta(days=1)).order_by("start").first()
    preview = rebook_preview(item=item, slot_id=slot.pk)
    other = (
        Slot.objects.filter(dose_number=2, date__gt=preview.dose2.date)
        .exclude(pk=preview.dose2.pk)
        .first()
    )

    result = booking_rebook(item_id=item.pk, slot_id=slot.pk, dose2_slot_id=other.pk)

    assert [a.slot_id for a in result.appointments] == [slot.pk, other.pk]
    assert Slot.objects.get(pk=preview.dose2.pk).booked == 0  # nothing held on it
