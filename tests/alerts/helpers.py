"""Builders for the alerts' tests: a Janssen site in Paris 17 with stock, alerts around it
from their own phones, places opened through the real services."""

import re
from datetime import timedelta

from django.utils import timezone

from creneau.alerts.models import AlertContact
from creneau.alerts.services import alert_subscribe
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from tests.factories import deliver, make_site, open_session, person, verified_contact

# The same places as the waiting list's tests: Paris 17, and so many km north of it.
from tests.waitlist.helpers import paris17, place_at


def janssen_site(*, name: str = "Centre Paris 17e", north_km: float = 0.0, doses: int = 200):
    centre = paris17().position
    site = make_site(name=name, latitude=centre.latitude + north_km / 111.2)
    deliver(site, doses, code="janssen")
    return site


def subscribe(
    number: int,
    *,
    north_km: float = 1.0,
    radius_km: int = 10,
    code="janssen",
    phone: str | None = None,
    **more,
):
    """Person `number`'s alert, from their own phone (or `phone`)."""
    return alert_subscribe(
        contact=verified_contact(phone or f"+336{number:08d}"),
        person=person(given_name=f"Personne{number}", family_name="Alerte"),
        place=place_at(north_km=north_km),
        radius_km=radius_km,
        vaccine_code=code,
        **more,
    )


def open_places(site, *, code: str = "janssen", **fields):
    return open_session(site, code=code, **fields)


def alerts_sent():
    return Notification.objects.filter(kind="alert_places").order_by("pk")


def stop_key(notification: Notification) -> str:
    """The key of the "stop" link, from the fragment of the text the worker sends."""
    body = notification_render(notification=notification).body
    return re.search(r"/alertes/arreter/#cle=(\S+)", body)[1]


def six_hours_pass() -> None:
    """Every contact's last alert, 6 hours and a minute ago."""
    AlertContact.objects.update(last_sent_at=timezone.now() - timedelta(hours=6, minutes=1))
