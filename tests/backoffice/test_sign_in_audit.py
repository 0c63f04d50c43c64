"""Sign-ins in the audit log: every failure under the name typed, the lockout said so,
the maintenance admin locked like the back office; the day list names what it showed."""

from datetime import timedelta

import pytest
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.audit.services import audit_unsealed
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import MAX_LOGIN_FAILURES, staff_account_create
from tests.factories import person, two_dose_site, verified_contact
from tests.staff_door import second_factor_give

REFUSED = "Mot de passe ou identifiant refusé"
LOCKED = "Compte bloqué"
WRONG = "wrong-password-123"


@pytest.fixture
def site(reference):
    site, _session = two_dose_site(name="Paris 17")
    staff_account_create(
        username="agent",
        password=DEMO_PASSWORD,
        role=StaffProfile.Role.SITE_STAFF,
        sites=[site],
    )
    return site


def sign_in(client, username="agent", password=DEMO_PASSWORD):
    return client.post(reverse("backoffice:login"), {"username": username, "password": password})


def failures() -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(action="login_failed")
        .order_by("id")
        .values_list("object_id", "summary")
    )


@pytest.mark.parametrize("username", ["agent", "Agent", "nobody"])
def test_a_failed_sign_in_is_in_the_audit_log_under_the_name_typed(client, site, username):
    assert sign_in(client, username=username, password=WRONG).status_code == 200
    event = AuditEvent.objects.get(action="login_failed")
    assert (event.object_id, event.object_type, event.summary) == (
        username,
        "auth.user",
        REFUSED,
    )
    assert event.actor is None and event.actor_label == ""
    assert event.ip == "127.0.0.1"
    assert not AuditEvent.objects.filter(action="login").exists()


def test_a_successful_sign_in_writes_no_failure(client, site):
    assert sign_in(client).status_code == 302
    assert failures() == []
    assert AuditEvent.objects.filter(action="login").count() == 1


def test_the_failure_that_locks_the_account_says_so_and_so_does_each_try_while_locked(client, site):
    for _ in range(MAX_LOGIN_FAILURES):
        sign_in(client, password=WRONG)
    assert failures() == [("agent", REFUSED)] * (MAX_LOGIN_FAILURES - 1) + [("agent", LOCKED)]

    page = sign_in(client).content.decode()  # the right password, too late

    assert "bloqué jusqu" in page and "_auth_user_id" not in client.session
    assert failures()[-1] == ("agent", LOCKED)
    assert len(failures()) == MAX_LOGIN_FAILURES + 1
    assert not AuditEvent.objects.filter(action="login").exists()


def test_a_failure_under_a_long_name_fits_the_audit_log(client, site):
    """The sign-in takes names of 150 characters; the audit log's object_id holds 100
    (PostgreSQL refuses a longer value: the failure would be a 500, and not recorded)."""
    column = AuditEvent._meta.get_field("object_id").max_length
    typed = "x" * 150
    assert sign_in(client, username=typed, password=WRONG).status_code == 200
    event = AuditEvent.objects.get(action="login_failed")
    assert len(event.object_id) <= column
    assert typed.startswith(event.object_id)


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.org", password=DEMO_PASSWORD
    )


def test_the_admin_has_no_door_of_its_own_it_sends_to_the_staff_sign_in(client, superuser):
    response = client.get("/admin/login/", {"next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:login") + "?next=%2Fadmin%2F"
    # Posting the admin's old form signs nobody in.
    client.post("/admin/login/", {"username": "root", "password": DEMO_PASSWORD})
    assert "_auth_user_id" not in client.session


def test_the_admin_is_refused_to_a_password_alone_and_opens_after_the_second_factor(
    client, superuser
):
    signed_in = client.post(
        reverse("backoffice:login"),
        {"username": "root", "password": DEMO_PASSWORD, "next": "/admin/"},
    )
    assert signed_in["Location"].startswith(reverse("backoffice:second_factor_enrol"))
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    second_factor_give(client, superuser)

    assert client.get("/admin/").status_code == 200


def test_the_admin_sign_in_locks_after_the_same_failures_even_for_the_right_password(
    client, superuser
):
    for _ in range(MAX_LOGIN_FAILURES):
        assert sign_in(client, username="root", password=WRONG).status_code == 200

    response = sign_in(client, username="root")

    assert "bloqué jusqu" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert failures()[-2:] == [("root", LOCKED), ("root", LOCKED)]


def test_the_day_lists_audit_event_names_the_appointments_it_showed(client, site):
    session = site.sessions.filter(dose_number=1).get()
    slots = list(session.slots.order_by("start")[:2])
    booked = []
    for slot, name, phone in zip(
        slots, ("Parisienne", "Lyonnaise"), ("+33611111111", "+33622222222"), strict=True
    ):
        result = booking_confirm(
            hold_id=hold_create(slot_id=slot.pk).hold.pk,
            contact=verified_contact(phone),
            person=person(family_name=name),
        )
        booked.append(min(result.appointments, key=lambda a: a.dose_number).pk)
    sign_in(client)
    url = reverse("backoffice:site_day", args=[site.pk])

    assert client.get(url, {"jour": session.date.isoformat()}).status_code == 200
    assert client.get(url, {"jour": session.date.isoformat(), "q": "lyonn"}).status_code == 200
    later = session.date + timedelta(days=1)
    assert client.get(url, {"jour": later.isoformat()}).status_code == 200

    whole, searched, empty = AuditEvent.objects.filter(action="view").order_by("id")
    assert whole.details == {"appointments": booked}
    assert searched.details["appointments"] == [booked[1]]
    # The terms are personal data: sealed in the log, read with the keys.
    assert audit_unsealed(searched.details["search"]) == "lyonn"
    assert empty.details == {"appointments": []}
