"""A new second-dose date by phone: the agent can offer the caller every day with places
inside the interval, not only the first slots of the first day."""

import re
from datetime import timedelta

from django.urls import reverse

from creneau.booking.models import Appointment, Cancellation
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.care.services import administration_record
from creneau.core.actor import Actor
from creneau.scheduling.models import Slot
from tests.callcenter.test_callcenter import existing_booking
from tests.factories import STAFF, at, open_session, person, verified_contact


def dose1_given_dose2_cancelled(site, session, django_user_model):
    """A course whose dose 1 was given and whose dose-2 session was then cancelled."""
    now = at(session.date, 7)
    booked = booking_confirm(
        hold_id=hold_create(slot_id=session.slots.order_by("start").first().pk, now=now).hold.pk,
        contact=verified_contact(),
        person=person(),
        now=now,
    )
    dose1, dose2 = sorted(booked.appointments, key=lambda a: a.dose_number)
    administration_record(
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot="EW1234",
        actor=Actor(user=django_user_model.objects.create_user(username="vaccinateur")),
        now=at(session.date, 9, 5),
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=dose2.slot.session_id,
        reason="Livraison retardée.",
    )
    return booked


def test_the_second_dose_page_offers_every_day_of_the_interval(agent, centre, django_user_model):
    site, session = centre
    booked = dose1_given_dose2_cancelled(site, session, django_user_model)
    open_dose2 = Slot.objects.filter(dose_number=2, session__status="open")
    days = sorted(set(open_dose2.values_list("date", flat=True)))
    url = reverse("callcenter:dose2", args=[booked.series.pk])

    page = agent.get(url).content.decode()

    assert len(days) == 2
    for day in days:
        assert f'href="?jour={day:%Y-%m-%d}"' in page
    last = agent.get(url, {"jour": f"{days[-1]:%Y-%m-%d}"}).content.decode()
    shown = {int(pk) for pk in re.findall(r'name="slot" value="(\d+)"', last)}
    assert shown == set(
        Slot.objects.filter(date=days[-1], dose_number=2).values_list("pk", flat=True)
    )
    agent.post(url + f"?jour={days[-1]:%Y-%m-%d}", {"slot": min(shown)})
    assert Appointment.objects.get(series=booked.series, status="booked").slot_id == min(shown)


def test_a_day_that_is_not_a_date_is_a_400(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    response = agent.get(reverse("callcenter:dose2", args=[series.pk]), {"jour": "demain"})
    assert response.status_code == 400


def test_more_than_a_week_of_days_is_offered(agent, centre, django_user_model):
    site, session = centre
    for offset in range(21, 33):
        open_session(site, day=session.date + timedelta(days=offset), dose_number=2)
    booked = dose1_given_dose2_cancelled(site, session, django_user_model)

    page = agent.get(reverse("callcenter:dose2", args=[booked.series.pk])).content.decode()

    assert len(re.findall(r'href="\?jour=', page)) == 12 + 2
