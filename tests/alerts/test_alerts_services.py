"""Alerts when places open: subscribing, matching the read model's changes, one message
per contact in 6 hours, the end on booking and after 30 days, the stop link, and every
refusal changing nothing."""

import io
import math
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from creneau.alerts.errors import AlreadySubscribed
from creneau.alerts.models import AlertContact, Subscription
from creneau.alerts.selectors import stop_link_read, subscriptions_matching
from creneau.alerts.services import alert_subscribe, alerts_run, alerts_stop
from creneau.booking.services import booking_cancel, booking_confirm, hold_create, hold_release
from creneau.core.errors import InvalidInput
from creneau.core.geo import EARTH_RADIUS_KM, Position, distance_km
from creneau.core.jobs import jobs_declared
from creneau.geography.selectors import Place
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.scheduling.models import DayAvailability, Slot
from creneau.scheduling.selectors import availability_opened
from tests.alerts.helpers import (
    alerts_sent,
    janssen_site,
    open_places,
    place_at,
    six_hours_pass,
    stop_key,
    subscribe,
)
from tests.factories import open_session, person, tomorrow, two_dose_site, verified_contact

pytestmark = pytest.mark.django_db


def _state() -> tuple:
    return (
        list(Subscription.objects.order_by("pk").values_list("pk", "status")),
        Notification.objects.count(),
        list(AlertContact.objects.values_list("contact_id", "last_sent_at")),
    )


# The read model's changes -----------------------------------------------------------------


def test_places_opened_or_given_back_stamp_the_read_model_and_a_booking_does_not(reference):
    site = janssen_site()
    before = timezone.now()
    session = open_places(site, lines=1)
    row = DayAvailability.objects.get(site=site, vaccine__code="janssen")
    assert row.opened_at is not None and row.opened_at >= before
    opened = row.opened_at

    slot = Slot.objects.filter(session=session).first()
    held = hold_create(slot_id=slot.pk)
    row.refresh_from_db()
    assert row.opened_at == opened  # places taken: not an opening
    hold_release(hold_id=str(held.hold.pk))
    row.refresh_from_db()
    assert row.opened_at > opened  # a place given back is one
    assert [p.site_id for p in availability_opened(since=opened)] == [site.pk]


# Subscribing ------------------------------------------------------------------------------


def test_subscribing_keeps_the_names_encrypted_and_confirms_with_a_link_to_stop(reference):
    subscription = subscribe(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT given_name, birth_date FROM alerts_subscription")
        [(given_name, birth_date)] = cursor.fetchall()
    assert given_name.startswith("v1:") and "Personne1" not in given_name
    assert birth_date.startswith("v1:")
    message = Notification.objects.get(kind="alert_subscribed")
    assert message.derived == {"stop_url": ["alert_stop_link", str(subscription.pk)]}
    # The key travels in the fragment, which no server log sees.
    assert stop_link_read(token=stop_key(message)) == [subscription.pk]
    assert subscription.expires_at == subscription.created_at + timedelta(days=30)


def test_one_running_alert_per_contact_and_person(reference):
    subscribe(1)
    state = _state()
    with pytest.raises(AlreadySubscribed):
        subscribe(1, north_km=5)
    assert _state() == state
    # The same person from another phone: allowed.
    alert_subscribe(
        contact=verified_contact("+33611111111"),
        person=person(given_name="Personne1", family_name="Alerte"),
        place=place_at(north_km=1),
        radius_km=10,
        vaccine_code="janssen",
    )
    assert Subscription.objects.filter(status="active").count() == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"radius_km": 0}, "radius_km", "La distance va de 1 à 50 km."),
        ({"radius_km": 500}, "radius_km", "La distance va de 1 à 50 km."),
        ({"code": "vaccin-miracle"}, "vaccine", "Vaccin inconnu"),
        ({"dose_number": 3}, "dose_number", "première dose ou une deuxième"),
        ({"dose_number": 2}, "dose1_on", "date de la première dose"),
        (
            {"code": "janssen", "dose_number": 2, "dose1_on": date(2020, 1, 1)},
            "vaccine",
            "une seule dose",
        ),
    ],
)
def test_bad_input_is_refused_on_its_field_and_changes_nothing(reference, fields, field, message):
    subscribe(1)
    state = _state()
    with pytest.raises(InvalidInput) as refused:
        subscribe(2, **fields)
    assert refused.value.details["field"] == field
    assert message in refused.value.message
    assert _state() == state


# Matching ---------------------------------------------------------------------------------


def test_a_session_opened_near_tells_each_contact_once_with_the_nearest_sites(reference):
    near = subscribe(1, north_km=1, radius_km=10)
    too_far = subscribe(2, north_km=30, radius_km=10)
    other_vaccine = subscribe(3, north_km=1, code="comirnaty")
    dose2 = subscribe(
        4,
        north_km=1,
        code="comirnaty",
        dose_number=2,
        dose1_on=timezone.localdate() - timedelta(days=10),
    )
    open_places(janssen_site(name="Centre A"))
    open_places(janssen_site(name="Centre B", north_km=4))
    opened = availability_opened(since=timezone.now() - timedelta(minutes=5))
    matched = {m.subscription_id for m in subscriptions_matching(opened=opened, now=timezone.now())}
    assert matched == {near.pk}

    report = alerts_run()

    assert (report.matched, report.sent) == (1, 1)
    [alert] = alerts_sent()
    assert alert.to == near.contact.address
    text = notification_render(notification=alert).body
    # Nearest first: B is 3 km from the place, A 1 km.
    assert text.index("Centre A (1,0 km)") < text.index("Centre B (3,0 km)")
    assert "/?near=1+km&vaccine=janssen&radius_km=10" in text
    assert stop_link_read(token=stop_key(alert)) == [near.pk]
    for untouched in (too_far, other_vaccine, dose2):
        assert not AlertContact.objects.get(contact=untouched.contact).last_sent_at


def test_at_most_one_message_per_contact_in_six_hours(reference):
    subscribe(1)
    open_places(janssen_site(name="Centre A"))
    assert alerts_run().sent == 1
    open_places(janssen_site(name="Centre B", north_km=2))
    # Matched again, told nothing: the last alert is less than 6 hours old.
    report = alerts_run()
    assert (report.matched, report.sent) == (1, 0)
    six_hours_pass()
    open_places(janssen_site(name="Centre C", north_km=3))
    assert alerts_run().sent == 1
    assert alerts_sent().count() == 2


def test_places_given_back_by_a_cancellation_are_an_alert(reference):
    site = janssen_site()
    session = open_places(site, lines=1)
    slot = Slot.objects.filter(session=session).first()
    held = hold_create(slot_id=slot.pk)
    result = booking_confirm(
        hold_id=str(held.hold.pk), contact=verified_contact("+33699999999"), person=person()
    )
    subscribe(1)
    alerts_run()
    six_hours_pass()
    sent = alerts_sent().count()
    booking_cancel(series_id=result.series.pk, reason="Empêchée")
    assert alerts_run().sent == 1
    assert alerts_sent().count() == sent + 1


def test_a_dose_2_alert_matches_second_dose_places_inside_its_window_only(reference):
    # Comirnaty (21 to 49 days): dose 1 tomorrow, dose 2 in 5, 6 and 7 weeks.
    site, _ = two_dose_site()
    first = timezone.localdate() - timedelta(days=5)
    inside = subscribe(1, north_km=0.5, code="comirnaty", dose_number=2, dose1_on=first)
    assert inside.window_from is not None
    dose1 = subscribe(2, north_km=0.5, code="comirnaty")
    opened = availability_opened(since=timezone.now() - timedelta(minutes=5))
    matches = subscriptions_matching(opened=opened, now=timezone.now())
    assert {m.subscription_id for m in matches} == {inside.pk, dose1.pk}
    assert all(m.site_id == site.pk for m in matches)
    # Dose-2 days outside the window (a dose 1 given long ago): no match.
    Subscription.objects.filter(pk=inside.pk).update(
        window_from=first + timedelta(days=1), window_to=first + timedelta(days=2)
    )
    matches = subscriptions_matching(opened=opened, now=timezone.now())
    assert {m.subscription_id for m in matches} == {dose1.pk}


# The end -----------------------------------------------------------------------------------


def test_an_alert_ends_when_its_person_books_and_is_then_not_sent(reference):
    subscription = subscribe(1)
    site = janssen_site()
    session = open_places(site, day=tomorrow(2))
    held = hold_create(slot_id=Slot.objects.filter(session=session).first().pk)
    # Booked through another contact, after subscribing: the alert is over.
    booking_confirm(
        hold_id=str(held.hold.pk),
        contact=verified_contact("+33699999999"),
        person=person(given_name="Personne1", family_name="Alerte"),
    )
    open_places(janssen_site(name="Centre B", north_km=2))
    report = alerts_run()
    assert (report.booked, report.sent) == (1, 0)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.BOOKED
    assert not alerts_sent().exists()


def test_an_alert_ends_after_30_days(reference):
    subscription = subscribe(1)
    Subscription.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    open_places(janssen_site())
    report = alerts_run()
    assert (report.expired, report.sent) == (1, 0)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.EXPIRED


def test_the_stop_link_stops_the_alerts_it_names_and_a_forged_one_changes_nothing(reference):
    subscription = subscribe(1)
    other = subscribe(2)
    open_places(janssen_site())
    alerts_run()
    [alert] = [n for n in alerts_sent() if n.to == subscription.contact.address]
    key = stop_key(alert)
    state = _state()
    for forged in ("", key[:-1] + ("A" if key[-1] != "A" else "B"), "WzFd:forged:key", "x" * 500):
        with pytest.raises(InvalidInput):
            stop_link_read(token=forged)
    assert _state() == state

    assert alerts_stop(subscription_ids=stop_link_read(token=key)) == 1
    assert alerts_stop(subscription_ids=stop_link_read(token=key)) == 0  # twice: nothing more
    subscription.refresh_from_db()
    other.refresh_from_db()
    assert (subscription.status, other.status) == ("stopped", "active")
    six_hours_pass()
    open_places(janssen_site(name="Centre B", north_km=2))
    alerts_run()
    assert [n.to for n in alerts_sent()].count(subscription.contact.address) == 1
    assert [n.to for n in alerts_sent()].count(other.contact.address) == 2


def test_a_contact_stops_only_its_own_alerts(reference):
    mine = subscribe(1)
    theirs = subscribe(2)
    assert alerts_stop(subscription_ids=[theirs.pk], contact=mine.contact) == 0
    assert alerts_stop(subscription_ids=[mine.pk], contact=mine.contact) == 1
    theirs.refresh_from_db()
    assert theirs.status == "active"


def test_a_closed_session_or_an_unpublished_site_alerts_nobody(reference):
    subscribe(1)
    site = janssen_site()
    site.status = "draft"
    site.save()
    open_session(site, code="janssen")
    assert alerts_run().sent == 0


def test_the_worker_runs_the_pass_every_minute_and_so_does_the_command(reference):
    every = {job.name: job.every.total_seconds() for job in jobs_declared()}
    assert every["alerts_match"] == 60
    subscribe(1)
    open_places(janssen_site())
    out = io.StringIO()
    call_command("alerts_match", stdout=out)
    assert "1 alert(s) matched, 1 message(s)" in out.getvalue()


@pytest.mark.parametrize("radius", [1, 10, 50])
def test_the_flat_earth_narrowing_in_sql_never_leaves_out_a_place_within_the_radius(
    reference, radius
):
    site = janssen_site()
    centre = Position(site.latitude, site.longitude)
    inside, outside = [], []
    for number, bearing in enumerate((0, 45, 90, 135, 180, 225, 270, 315)):
        for factor, found in ((0.995, inside), (1.005, outside)):
            here = _destination(centre, bearing=bearing, km=radius * factor)
            found.append(
                alert_subscribe(
                    contact=verified_contact(f"+3365{number:03d}{int(factor * 1000):04d}"),
                    person=person(given_name=f"P{number}", family_name="Cap"),
                    place=Place(position=here, label="ici"),
                    radius_km=radius,
                    vaccine_code="janssen",
                ).pk
            )
            assert (distance_km(centre, here) <= radius) == (found is inside)
    open_places(site)
    opened = availability_opened(since=timezone.now() - timedelta(minutes=5))
    matched = {m.subscription_id for m in subscriptions_matching(opened=opened, now=timezone.now())}
    assert matched == set(inside)


def _destination(start: Position, *, bearing: float, km: float) -> Position:
    """The point `km` away from `start` in the direction `bearing` (degrees), on the sphere."""
    angle = km / EARTH_RADIUS_KM
    lat1, lon1, theta = map(math.radians, (start.latitude, start.longitude, bearing))
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(theta)
    )
    lon2 = lon1 + math.atan2(
        math.sin(theta) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    return Position(math.degrees(lat2), math.degrees(lon2))
