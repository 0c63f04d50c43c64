"""A cancellation message that says "call us" gives the number to call."""

import pytest

from creneau.booking.models import Cancellation
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    cancellation_create,
    hold_create,
)
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.factories import STAFF, person, two_dose_site, verified_contact


@pytest.fixture
def booked(reference, settings):
    settings.CALL_CENTRE_PHONE = "01 23 45 67 89"
    site, session = two_dose_site(name="Centre Wagram")
    result = booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk).hold.pk,
        contact=verified_contact(),
        person=person(),
    )
    return site, session, result.series


def test_a_cancelled_session_message_gives_the_link_and_the_call_centre_number(booked):
    site, session, _series = booked
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=session.pk,
        reason="Grève.",
    )
    body = notification_render(notification=Notification.objects.get(kind="booking_cancelled")).body
    assert "/reprendre/" in body
    assert "01 23 45 67 89" in body


def test_a_cancellation_without_a_link_gives_the_call_centre_number(booked):
    _site, _session, series = booked
    booking_cancel(series_id=series.pk)
    body = notification_render(notification=Notification.objects.get(kind="booking_cancelled")).body
    assert "01 23 45 67 89" in body
