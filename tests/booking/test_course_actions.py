"""What can be done with a course now: the actions course_actions allows are exactly those
the services accept, refused in the same words; and the portal, the call centre and the
back office's list of the day offer those actions and no others."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from creneau.booking import tokens
from creneau.booking.actions import CourseActor, active_by_dose
from creneau.booking.models import Appointment, Cancellation, Series
from creneau.booking.selectors import course_actions, series_appointments
from creneau.booking.services import (
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_dose2_rebook,
    booking_move,
    cancellation_create,
    hold_create,
)
from creneau.care.services import administration_record, appointment_check_in, noshows_mark
from creneau.core.actor import Actor
from creneau.core.errors import DomainError
from creneau.demo.staff import DEMO_PASSWORD
from creneau.outreach.models import Notification
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import (
    LOT,
    STAFF,
    at,
    deliver,
    make_site,
    open_session,
    person,
    tomorrow,
    two_dose_site,
    verified_contact,
)
from tests.staff_door import staff_sign_in

DAY = tomorrow()


@dataclass
class Course:
    site: object
    series: Series
    dose1: Appointment
    dose2: Appointment
    nurse: object
    management_token: str


@pytest.fixture
def course(reference, django_user_model) -> Course:
    """Dose 1 at 9:00 on DAY, dose 2 six weeks later at the same time; free first-dose
    places three days after DAY to move dose 1 to."""
    site, session = two_dose_site(dose1_day=DAY)
    open_session(site, day=DAY + timedelta(days=3))
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    result = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person())
    dose1, dose2 = sorted(result.appointments, key=lambda a: a.dose_number)
    nurse = django_user_model.objects.create_user(username="desk")
    return Course(site, result.series, dose1, dose2, nurse, result.management_token)


def give(course: Course, appointment: Appointment, at_: datetime) -> None:
    administration_record(
        appointment_id=appointment.pk,
        site_id=course.site.pk,
        lot=LOT,
        actor=Actor(user=course.nurse),
        now=at_,
    )


def dose2_start(course: Course) -> datetime:
    return course.dose2.slot.start


# Each state is reached the way it is in life, through the services.


def booked(course):
    pass


def dose1_arrived(course):
    appointment_check_in(
        actor=STAFF, appointment_id=course.dose1.pk, site_id=course.site.pk, now=at(DAY, 8)
    )


def dose2_session_cancel(course, now):
    cancellation_create(
        actor=STAFF,
        site_id=course.site.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=course.dose2.slot.session_id,
        reason="Panne du congélateur.",
        now=now,
    )


def dose1_arrived_dose2_session_cancelled(course):
    dose1_arrived(course)
    dose2_session_cancel(course, at(DAY, 8, 30))


def dose1_given(course):
    give(course, course.dose1, at(DAY, 9, 5))


def dose2_arrived(course):
    dose1_given(course)
    appointment_check_in(
        actor=STAFF,
        appointment_id=course.dose2.pk,
        site_id=course.site.pk,
        now=dose2_start(course) - timedelta(minutes=10),
    )


def completed(course):
    dose1_given(course)
    give(course, course.dose2, dose2_start(course) + timedelta(minutes=5))


def dose2_session_cancelled(course):
    dose1_given(course)
    dose2_session_cancel(course, at(DAY + timedelta(days=1), 12))


def dose2_rebooked(course):
    dose2_session_cancelled(course)
    booking_dose2_rebook(
        series_id=course.series.pk,
        slot_id=free_dose2_slot(course, after=at(DAY + timedelta(days=1), 12)),
        now=at(DAY + timedelta(days=1), 12),
    )


def dose2_missed(course):
    dose1_given(course)
    day = dose2_start(course).date()
    noshows_mark(actor=STAFF, site_id=course.site.pk, day=day, now=at(day, 23))


def cancelled(course):
    booking_cancel(series_id=course.series.pk, now=at(DAY - timedelta(days=1), 12))


def dose1_missed(course):
    noshows_mark(actor=STAFF, site_id=course.site.pk, day=DAY, now=at(DAY, 23))


def dose1_voided_by_hand(course):
    """No service leaves dose 2 without its dose 1 (invariant 3); the rule holds anyway."""
    Appointment.objects.filter(pk=course.dose1.pk).update(status=Appointment.Status.CANCELLED)


STATES = [
    booked,
    dose1_arrived,
    dose1_arrived_dose2_session_cancelled,
    dose1_given,
    dose2_arrived,
    completed,
    dose2_session_cancelled,
    dose2_rebooked,
    dose2_missed,
    cancelled,
    dose1_missed,
    dose1_voided_by_hand,
]


def moments(course: Course) -> dict[str, datetime]:
    """Before, on and after each dose's day, before and after its slot begins."""
    dose2 = dose2_start(course)
    return {
        "the day before": at(DAY - timedelta(days=1), 12),
        "dose 1 day, before 9:00": at(DAY, 8),
        "dose 1 day, 9:30": at(DAY, 9, 30),
        "the day after dose 1": at(DAY + timedelta(days=1), 12),
        "dose 2 day, before its slot": dose2 - timedelta(hours=1),
        "dose 2 day, after its slot began": dose2 + timedelta(minutes=30),
    }


def free_dose1_slot(course: Course, *, after: datetime) -> int:
    slot = (
        course.site.slots.filter(dose_number=1, start__gt=after, date__gt=DAY)
        .order_by("start")
        .first()
    )
    return slot.pk if slot else 0


def free_dose2_slot(course: Course, *, after: datetime) -> int:
    """The latest second-dose day's first slot: inside the interval, after every moment."""
    slot = course.site.slots.filter(dose_number=2, start__gt=after).order_by("-date", "start")
    return slot.exclude(appointments__isnull=False).first().pk


class Accepted(Exception):
    """Raised to roll back what a service accepted."""


def outcome(service, **arguments) -> str:
    """'' when the service accepts the change (undone at once), else its refusal."""
    try:
        with transaction.atomic():
            service(**arguments)
            raise Accepted
    except Accepted:
        return ""
    except DomainError as error:
        return f"{type(error).__name__}: {error.message}"


def refused(reason: str) -> str:
    return f"InvalidInput: {reason}" if reason else ""


@pytest.mark.parametrize("state", STATES, ids=lambda state: state.__name__)
def test_what_the_selector_allows_is_what_the_services_accept(course, state):
    state(course)
    seen = {"allowed": set(), "refused": set()}

    def compare(decisions, said: str, *what) -> None:
        for decision in decisions:
            assert refused(decision.reason) == said, (state.__name__, *what)
        seen["refused" if said else "allowed"].add(what[1])

    for moment, now in moments(course).items():
        series = Series.objects.select_related("vaccine", "site").get(pk=course.series.pk)
        appointments = series_appointments(series=series)
        person, agent, staff = (
            course_actions(series=series, appointments=appointments, actor=actor, now=now)
            for actor in (CourseActor.PERSON, CourseActor.AGENT, CourseActor.SITE_STAFF)
        )
        talkers = (person, agent)

        # The person and the agent: one rule, the booking services' own.
        for dose, free_slot in ((1, free_dose1_slot), (2, free_dose2_slot)):
            said = outcome(
                booking_move,
                series_id=series.pk,
                dose_number=dose,
                slot_id=free_slot(course, after=now),
                now=now,
            )
            compare([a.move[dose] for a in talkers], said, moment, f"move {dose}")
        said = outcome(
            booking_dose2_rebook,
            series_id=series.pk,
            slot_id=free_dose2_slot(course, after=now),
            now=now,
        )
        compare([a.dose2_rebook for a in talkers], said, moment, "dose2_rebook")
        said = outcome(booking_dose2_cancel, series_id=series.pk, now=now)
        if series.status != Series.Status.CANCELLED:
            compare([a.dose2_cancel for a in talkers], said, moment, "dose2_cancel")
        notifications = Notification.objects.count()
        said = outcome(booking_cancel, series_id=series.pk, now=now)
        if series.status == Series.Status.CANCELLED:
            # Not offered; a repeated cancellation is answered as it was, and changes nothing.
            assert said == "" and not (person.cancel or agent.cancel), moment
            assert person.cancel.reason == "Ce rendez-vous est déjà annulé."
            assert Series.objects.get(pk=series.pk).version == series.version
            assert Notification.objects.count() == notifications
        else:
            compare([a.cancel for a in talkers], said, moment, "cancel")
        assert not any(row.check_in or row.give for a in talkers for row in a.appointments)

        # Site staff: arrivals and doses, the care services' own rule; nothing else.
        assert not (staff.cancel or staff.dose2_cancel or staff.dose2_rebook or staff.movable)
        for row in staff.appointments:
            appointment = row.appointment
            said = outcome(
                appointment_check_in,
                actor=STAFF,
                appointment_id=appointment.pk,
                site_id=course.site.pk,
                now=now,
            )
            compare([row.check_in], said, moment, "check_in", appointment.dose_number)
            said = outcome(give, course=course, appointment=appointment, at_=now)
            compare([row.give], said, moment, "give", appointment.dose_number)

        # A row offers its dose's move only if it is the appointment a move takes.
        active = active_by_dose(appointments=appointments)
        for row in person.appointments:
            dose = row.appointment.dose_number
            mine = active.get(dose) == row.appointment
            assert bool(row.move) == bool(mine and person.move[dose]), (moment, row.appointment)
    # Every state refuses something; those with a course under way allow something.
    assert seen["refused"]
    if state not in (completed, cancelled, dose1_missed):
        assert seen["allowed"], state.__name__


def test_a_moved_dose_is_the_appointment_whose_row_offered_the_move(course):
    dose2_rebooked(course)
    now = at(DAY + timedelta(days=2), 12)
    series = Series.objects.select_related("vaccine").get(pk=course.series.pk)
    actions = course_actions(
        series=series,
        appointments=series_appointments(series=series),
        actor=CourseActor.PERSON,
        now=now,
    )
    offered = [row.appointment for row in actions.appointments if row.move]
    assert [(a.dose_number, a.status) for a in offered] == [(2, "booked")]
    # The cancelled dose 2 stays in the list, with nothing to offer.
    assert [a.status for a in series_appointments(series=series)].count("cancelled") == 1
    target = free_dose2_slot(course, after=now)
    booking_move(series_id=series.pk, dose_number=2, slot_id=target, now=now)
    assert Appointment.objects.get(pk=offered[0].pk).slot_id == target


def test_a_one_dose_course_is_never_offered_a_dose2_date(reference):
    site = make_site()
    deliver(site, 100, code="janssen")
    session = open_session(site, code="janssen", day=DAY)
    slots = list(session.slots.order_by("start"))
    hold = hold_create(slot_id=slots[0].pk).hold
    series = booking_confirm(hold_id=hold.pk, contact=verified_contact(), person=person()).series
    appointment_check_in(
        actor=STAFF, appointment_id=series.appointments.get().pk, site_id=site.pk, now=at(DAY, 8)
    )
    now = at(DAY, 8, 30)
    actions = course_actions(
        series=series,
        appointments=series_appointments(series=series),
        actor=CourseActor.AGENT,
        now=now,
    )
    said = outcome(booking_dose2_rebook, series_id=series.pk, slot_id=slots[-1].pk, now=now)
    assert list(actions.move) == [1] and said
    assert refused(actions.dose2_rebook.reason) == said


# The pages


def sign_in(client: Client, username: str) -> Client:
    staff_sign_in(client, username)
    return client


def offered_on_pages(course: Course) -> dict[str, set[str]]:
    """The actions each door offers for the course, read from the links and forms."""
    series = course.series
    display = tokens.reference_display(series.reference)
    person = Client()
    person.get(reverse("portal:booking", args=[display]), {"cle": course.management_token})
    portal = person.get(reverse("portal:booking", args=[display])).content.decode()
    file = (
        sign_in(Client(), "agent")
        .get(reverse("callcenter:file", args=[series.pk]))
        .content.decode()
    )
    day = (
        sign_in(Client(), "nurse")
        .get(reverse("backoffice:site_day", args=[course.site.pk]), {"jour": DAY.isoformat()})
        .content.decode()
    )

    def found(page: str, names: dict[str, str]) -> set[str]:
        return {name for name, url in names.items() if re.search(f'"{re.escape(url)}"', page)}

    doses = (1, 2)
    return {
        "portal": found(
            portal,
            {f"move {d}": reverse("portal:move", args=[display, d]) for d in doses}
            | {
                "cancel": reverse("portal:cancel", args=[display]),
                "dose2_cancel": reverse("portal:cancel_dose2", args=[display]),
            },
        ),
        "call centre": found(
            file,
            {f"move {d}": reverse("callcenter:move", args=[series.pk, d]) for d in doses}
            | {
                "cancel": reverse("callcenter:cancel", args=[series.pk]),
                "dose2_cancel": reverse("callcenter:cancel_dose2", args=[series.pk]),
                "dose2_rebook": reverse("callcenter:dose2", args=[series.pk]),
            },
        ),
        "day list": found(
            day,
            {
                "check_in": reverse("backoffice:check_in", args=[course.site.pk, course.dose1.pk]),
                "give": reverse("backoffice:dose_given", args=[course.site.pk, course.dose1.pk]),
            },
        ),
    }


def allowed(course: Course, now: datetime) -> dict[str, set[str]]:
    series = Series.objects.select_related("vaccine", "site").get(pk=course.series.pk)
    appointments = series_appointments(series=series)

    def of(actor: CourseActor) -> set[str]:
        actions = course_actions(series=series, appointments=appointments, actor=actor, now=now)
        offered = {f"move {dose}" for dose in actions.movable} | {
            name for name in ("cancel", "dose2_cancel", "dose2_rebook") if getattr(actions, name)
        }
        # Once dose 1 is given, cancelling the course is cancelling dose 2 alone: the
        # pages offer it under that name only.
        return offered - {"cancel"} if "dose2_cancel" in offered else offered

    staff = course_actions(
        series=series,
        appointments=[a for a in appointments if a.pk == course.dose1.pk],
        actor=CourseActor.SITE_STAFF,
        now=now,
    ).appointments[0]
    return {
        # The portal has no page of its own for a new dose-2 date: the link in the
        # cancellation message leads to one.
        "portal": of(CourseActor.PERSON) - {"dose2_rebook"},
        "call centre": of(CourseActor.AGENT),
        "day list": {name for name in ("check_in", "give") if getattr(staff, name)},
    }


@pytest.fixture
def accounts(course):
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    staff_account_create(
        username="nurse",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[course.site],
    )


def test_an_arrived_dose_is_not_offered_to_move_nor_the_course_to_cancel(
    course, accounts, monkeypatch
):
    dose1_arrived(course)
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, 8, 30))
    pages = offered_on_pages(course)
    assert pages["call centre"] == {"move 2"}
    assert pages["portal"] == {"move 2"}
    assert pages["day list"] == {"give"}


@pytest.mark.parametrize(
    ("state", "hour"),
    [
        (booked, 8),  # everything still to come, and the day's desk opens at 8:00
        (booked, 10),  # dose 1 has begun: it stays, so does the course; the desk records
        (dose1_given, 12),
        (dose2_session_cancelled, 12),
        (cancelled, 8),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_each_door_offers_what_the_selector_allows(course, accounts, monkeypatch, state, hour):
    state(course)
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, hour))
    assert offered_on_pages(course) == allowed(course, at(DAY, hour))
