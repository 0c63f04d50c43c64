"""The back office's doors: sign-in with lockout, and scope on every page."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from creneau.alerts.services import alert_subscribe
from creneau.audit.models import AuditEvent
from creneau.booking.models import Cancellation
from creneau.booking.services import booking_confirm, cancellation_create, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.eligibility.models import EligibilityRule
from creneau.geography.selectors import place_resolve
from creneau.interop.models import ExternalPlatform
from creneau.outreach.models import LetterBatch
from creneau.sites.models import DepartmentPublication
from creneau.staff.models import StaffProfile
from creneau.staff.services import MAX_LOGIN_FAILURES, api_token_create, staff_account_create
from creneau.waitlist.models import Leftover
from tests.factories import STAFF, person, two_dose_site, verified_contact
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def world(reference):
    """Two sites, an appointment at each, and a member of staff of the first."""
    paris, paris_session = two_dose_site(name="Paris 17", insee_code="75117")
    marseille, marseille_session = two_dose_site(name="Marseille 1er", insee_code="13201")
    appointments = {}
    for session, name, phone in (
        (paris_session, "Parisienne", "+33611111111"),
        (marseille_session, "Marseillaise", "+33622222222"),
    ):
        hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
        result = booking_confirm(
            hold_id=hold.pk, contact=verified_contact(phone), person=person(family_name=name)
        )
        appointments[name] = min(result.appointments, key=lambda a: a.dose_number)
    # A manager of Paris: every back-office permission, so that only the scope refuses.
    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[paris]
    )
    empty_session = marseille.sessions.get(date=marseille_session.date + timedelta(days=35))
    marseille_cancellation = cancellation_create(
        actor=STAFF,
        site_id=marseille.pk,
        scope=Cancellation.Scope.SESSION,
        session_id=empty_session.pk,
        reason="Grève.",
    )
    return {
        "paris": paris,
        "marseille": marseille,
        "day": paris_session.date,
        "paris_appointment": appointments["Parisienne"],
        "marseille_appointment": appointments["Marseillaise"],
        "marseille_cancellation": marseille_cancellation,
    }


def sign_in(client, username="agent", password=DEMO_PASSWORD):
    return staff_sign_in(client, username, password)


def test_anonymous_visitors_are_sent_to_the_sign_in(client, world):
    response = client.get(reverse("backoffice:site_day", args=[world["paris"].pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login") + "?next=")


def test_the_day_list_shows_the_sites_appointments_and_is_audited(client, world):
    assert sign_in(client).status_code == 302
    page = client.get(
        reverse("backoffice:site_day", args=[world["paris"].pk]),
        {"jour": world["day"].isoformat()},
    ).content.decode()
    assert "PARISIENNE" in page and "MARSEILLAISE" not in page
    event = AuditEvent.objects.filter(action="view").get()
    assert event.site == world["paris"] and event.actor.username == "agent"
    assert event.ip == "127.0.0.1"


def test_the_day_list_finds_a_person_by_name(client, world):
    sign_in(client)
    url = reverse("backoffice:site_day", args=[world["paris"].pk])
    day = world["day"].isoformat()
    assert "PARISIENNE" in client.get(url, {"jour": day, "q": "parisi"}).content.decode()
    assert "PARISIENNE" not in client.get(url, {"jour": day, "q": "dupont"}).content.decode()


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, world):
    for _ in range(MAX_LOGIN_FAILURES):
        assert sign_in(client, password="wrong-password-123").status_code == 200
    page = sign_in(client).content.decode()
    assert "Trop d&#x27;essais" in page
    assert "_auth_user_id" not in client.session


def test_a_staff_sign_in_lasts_a_working_day(client, world, settings):
    sign_in(client)
    assert client.session.get_expiry_age() == settings.STAFF_SESSION_SECONDS


def test_an_account_without_a_staff_profile_sees_nothing(client, world, django_user_model):
    django_user_model.objects.create_user(username="someone", password=DEMO_PASSWORD)
    sign_in(client, username="someone")
    assert client.get(reverse("backoffice:home")).status_code == 404


# Scope, over every page: how to name an object of the other site for each URL argument.
# A new back-office URL with an argument missing here fails the test below.
FOREIGN = {
    "site_id": lambda world: world["marseille"].pk,
    "appointment_id": lambda world: world["marseille_appointment"].pk,
    "cancellation_id": lambda world: world["marseille_cancellation"].pk,
    "series_id": lambda world: world["marseille_appointment"].series_id,
    "dose_number": lambda world: 1,
    "session_id": lambda world: world["marseille"].sessions.first().pk,
    "delivery_id": lambda world: world["marseille"].deliveries.first().pk,
    # Letters are national (the call centre's): a site's manager may not print any.
    "batch_id": lambda world: LetterBatch.objects.create().pk,
    # A campaign of Marseille's department.
    "campaign_id": lambda world: marseille_campaign().pk,
    "leftover_id": lambda world: marseille_leftover(world).pk,
    # Alerts are national (the call centre's): a caller's in Marseille.
    "subscription_id": lambda world: marseille_alert().pk,
    # An application of Marseille's department; a member of Marseille's staff.
    "application_id": lambda world: marseille_application().pk,
    "user_id": lambda world: marseille_staff(world).pk,
    # Other booking platforms are national (the national authority's); a regional one
    # sees those with places in its departments: this one has none.
    "platform_id": lambda world: (
        ExternalPlatform.objects.create(
            name="Autre", manifest_url="https://rdv.example.org/$bulk-publish"
        ).pk
    ),
    # Another authority's staff API token: each authority revokes only its own.
    "token_id": lambda world: another_authoritys_token().pk,
    # Eligibility rules are national (the national authority's): nobody else's.
    "rule_id": lambda world: EligibilityRule.objects.order_by("pk").first().pk,
    # A publication of Marseille's department.
    "publication_id": lambda world: (
        DepartmentPublication.objects.create(
            department_id="13", publish_at=timezone.now() + timedelta(days=1)
        ).pk
    ),
}


def another_authoritys_token():
    user = staff_account_create(
        username="autre.autorite", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY
    )
    return api_token_create(actor=None, user=user, name="Registre", days=30).token


def marseille_campaign():
    from creneau.campaigns.models import Campaign

    campaign = Campaign.objects.create(name="Marseille", channels=["sms"], message_fr="M.")
    campaign.departments.set(["13"])
    return campaign


def marseille_application():
    from creneau.onboarding.services import application_submit
    from tests.onboarding.helpers import application_data

    return application_submit(
        data=application_data(postcode="13001", town="Marseille", number="10003016721")
    )


def marseille_staff(world):
    user = staff_account_create(
        username="marseille.staff",
        password=DEMO_PASSWORD,
        role=Role.SITE_STAFF,
        sites=[world["marseille"]],
    )
    return user


def marseille_alert():
    """A caller's alert near Marseille."""
    return alert_subscribe(
        contact=verified_contact("+33699887766"),
        person=person(),
        place=place_resolve(query="13001"),
        radius_km=10,
        vaccine_code="comirnaty",
    )


def marseille_leftover(world):
    """Leftover doses declared at Marseille (its first session stands for theirs)."""
    session = world["marseille"].sessions.order_by("pk").first()
    leftover, _ = Leftover.objects.get_or_create(
        session=session,
        defaults=dict(
            site=world["marseille"],
            vaccine=session.vaccine,
            lot="L1",
            doses=1,
            until=timezone.now(),
            created_at=timezone.now(),
        ),
    )
    return leftover


STAFF_NAMESPACES = {"backoffice", "callcenter"}
# Pages of the staff door reached before any sign-in, by a signed link: no site scope.
DOOR_PAGES = {"backoffice:password_reset_confirm", "backoffice:invitation"}


def backoffice_patterns() -> list[tuple[str, list[str]]]:
    """("namespace:name", its arguments) for every page under /backoffice/ and /callcenter/."""
    found = []

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace in STAFF_NAMESPACES:
                name = f"{namespace}:{pattern.name}"
                if name not in DOOR_PAGES:
                    found.append((name, list(pattern.pattern.converters)))

    walk(get_resolver().url_patterns, None)
    return found


def test_every_back_office_page_is_listed():
    assert {name for name, _ in backoffice_patterns()} >= {
        "backoffice:home",
        "backoffice:site_day",
        "backoffice:login",
    }


@pytest.mark.parametrize("name, arguments", backoffice_patterns())
def test_another_sites_objects_are_not_found_on_every_page(client, world, name, arguments):
    missing = [argument for argument in arguments if argument not in FOREIGN]
    assert not missing, f"say in FOREIGN how to name another site's {missing}"
    if not arguments:
        return
    sign_in(client)
    url = reverse(name, kwargs={a: FOREIGN[a](world) for a in arguments})
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"lot": "L1"})
    assert response.status_code == 404
    staff_events = AuditEvent.objects.exclude(action="login").filter(actor__isnull=False)
    assert [(event.action, event.object_type, event.site_id) for event in staff_events] == [
        ("refused", name, None)
    ]
    assert re.search(r"/\d+/", url)


def test_an_appointment_of_another_site_under_ones_own_site_is_not_found(client, world):
    sign_in(client)
    for name in ("check_in", "dose_given"):
        url = reverse(
            f"backoffice:{name}", args=[world["paris"].pk, world["marseille_appointment"].pk]
        )
        assert client.post(url, {"lot": "L1"}).status_code == 404
    assert (
        world["marseille_appointment"]
        .__class__.objects.get(pk=world["marseille_appointment"].pk)
        .status
        == "booked"
    )


def test_a_check_in_on_another_day_is_refused_with_a_message(client, world):
    sign_in(client)
    url = reverse("backoffice:check_in", args=[world["paris"].pk, world["paris_appointment"].pk])
    page = client.post(url, {"jour": world["day"].isoformat()}, follow=True).content.decode()
    assert "pas aujourd&#x27;hui" in page


def test_a_day_far_away_is_an_empty_list_not_an_error(client, world):
    sign_in(client)
    url = reverse("backoffice:site_day", args=[world["paris"].pk])
    later = (world["day"] + timedelta(days=400)).isoformat()
    assert client.get(url, {"jour": later}).status_code == 200
    assert client.get(url, {"jour": "not-a-day"}).status_code == 400


def test_at_the_end_of_the_day_the_missing_are_marked_absent(client, world, monkeypatch):
    evening = timezone.make_aware(datetime.combine(world["day"], time(18, 0)))
    monkeypatch.setattr(timezone, "now", lambda: evening)
    sign_in(client)
    url = reverse("backoffice:site_day", args=[world["paris"].pk])
    assert "Marquer 1 absent" in client.get(url).content.decode()
    page = client.post(
        reverse("backoffice:noshows", args=[world["paris"].pk]),
        {"jour": world["day"].isoformat()},
        follow=True,
    ).content.decode()
    assert "1 rendez-vous marqué(s) « absent »" in page
    assert world["paris_appointment"].__class__.objects.get(
        pk=world["paris_appointment"].pk
    ).status == ("noshow")
    assert AuditEvent.objects.filter(action="change", site=world["paris"]).exists()


def test_the_printable_list_has_no_buttons_and_is_audited_as_an_export(client, world):
    sign_in(client)
    url = reverse("backoffice:site_day", args=[world["paris"].pk])
    page = client.get(url, {"jour": world["day"].isoformat(), "imprimer": ""}).content.decode()
    assert "PARISIENNE" in page and '<form method="post" action="/backoffice/lieux' not in page
    assert AuditEvent.objects.filter(action="export", site=world["paris"]).exists()
