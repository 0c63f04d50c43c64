"""The demo's eight weeks of history, written in bulk, checked against the services: the
rows hold the database's constraints (slots within capacity, stock never over-promised,
one active course per person), the summary tables equal a recount from them, the real
services read them (a person's data opens, a course's actions), and a dose 2 still to
book is booked by the real `booking_dose2_rebook`."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q

from creneau.booking.models import Appointment, Series
from creneau.booking.services import booking_dose2_rebook
from creneau.care.models import Administration
from creneau.demo.history import demo_history_simulate
from creneau.demo.sessions import demo_schedule_generate
from creneau.privacy.selectors import person_data
from creneau.scheduling.models import Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Stock
from tests.factories import make_site
from tests.stats.recount import (
    appointments_recounted,
    appointments_tabled,
    vaccinations_recounted,
    vaccinations_tabled,
)


def test_eight_weeks_of_history_in_bulk_are_what_the_services_would_leave(reference):
    # One day pinned for every site: La Réunion's, the easternmost (after 20:00 UTC it is
    # already tomorrow there, and sessions cannot open in a site's past).
    today = dt.datetime.now(ZoneInfo("Indian/Reunion")).date()
    for n, insee in enumerate(("75117", "75111", "13201", "93066", "97411")):
        make_site(insee_code=insee, name=f"Centre {n}", kind=Site.Kind.CENTRE)
    demo_schedule_generate(today=today)

    history = demo_history_simulate(today=today)
    # Paris, Bouches-du-Rhône, Seine-Saint-Denis, La Réunion, in proportion to population.
    assert history.departments == 4
    assert history.courses > 1000
    assert Administration.objects.count() == history.doses
    assert demo_history_simulate(today=today).courses == 0  # once

    # Places, stock and courses as the constraints and the services keep them.
    assert not Slot.objects.filter(booked__gt=F("capacity")).exists()
    assert not Stock.objects.filter(delivered__lt=F("committed") + F("given")).exists()
    completed = Series.objects.filter(status="completed")
    assert completed.exists()
    assert not completed.annotate(
        open=Count("appointments", filter=~Q(appointments__status="fulfilled"))
    ).filter(open__gt=0)

    # The figures: every day of the history equals a recount from the rows.
    days = {today - dt.timedelta(days=n) for n in range(70)}
    assert appointments_tabled(days) == appointments_recounted(days)
    assert vaccinations_tabled(days) == vaccinations_recounted(days)

    # The services read the rows, and book a pending dose 2 (the latest dose 1 first:
    # an earlier one's window may end before the schedule's first dose-2 session).
    pending_courses = (
        Series.objects.filter(status="active", vaccine__doses_in_series=2)
        .exclude(appointments__dose_number=2)
        .select_related("vaccine")
        .order_by("-appointments__slot__date", "pk")
    )
    assert pending_courses.exists()
    for pending in pending_courses[:20]:
        assert person_data(person=pending.person)["courses"]
        dose1 = pending.appointments.get(dose_number=1)
        slot = (
            Slot.objects.filter(
                site=pending.site,
                dose_number=2,
                booked__lt=F("capacity"),
                date__gte=max(
                    today, dose1.slot.date + dt.timedelta(pending.vaccine.interval_min_days)
                ),
                date__lte=dose1.slot.date + dt.timedelta(pending.vaccine.interval_max_days),
            )
            .order_by("start")
            .first()
        )
        if slot is not None:
            break
    assert slot is not None
    booking_dose2_rebook(series_id=pending.pk, slot_id=slot.pk)
    assert pending.appointments.get(dose_number=2, status="booked").slot == slot
    assert Appointment.objects.filter(series=pending, dose_number=1, status="fulfilled").exists()
