"""FHIR R4 Immunization: the doses given, for the national vaccination registry, readable
only with a staff API token of a national or regional authority, every read audited."""

from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.operationoutcome import OperationOutcome

from creneau.audit.models import AuditEvent
from creneau.booking.services import booking_confirm, hold_create
from creneau.care.services import administration_record, administration_withdraw
from creneau.core.actor import Actor
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.staff.models import ApiToken, StaffProfile
from creneau.staff.services import api_token_create, api_token_revoke, staff_account_create
from tests.factories import LOT, at, person, tomorrow, two_dose_site, verified_contact

Role = StaffProfile.Role
DAY = tomorrow()


def _dose_given(*, site, session, given_name, phone, nurse):
    slot = session.slots.order_by("start").first()
    booked = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk, now=at(DAY, 8)).hold.pk,
        contact=verified_contact(phone),
        person=person(given_name=given_name, family_name="Martin", age=80),
        now=at(DAY, 8),
    )
    dose1 = min(booked.appointments, key=lambda a: a.dose_number)
    return administration_record(
        actor=Actor(user=nurse),
        appointment_id=dose1.pk,
        site_id=site.pk,
        lot=LOT,
        now=at(DAY, 9, 5),
    )


@pytest.fixture
def doses(reference, settings, django_user_model):
    settings.PUBLIC_URL = "https://creneau.example.fr"
    nurse = django_user_model.objects.create_user(
        username="nurse", first_name="Inès", last_name="Lebrun"
    )
    paris, paris_session = two_dose_site(dose1_day=DAY, name="Centre Paris 17")
    marseille, marseille_session = two_dose_site(
        dose1_day=DAY, name="Centre Marseille", insee_code="13201"
    )
    return {
        "paris": paris,
        "marseille": marseille,
        "nurse": nurse,
        "paris_dose": _dose_given(
            site=paris,
            session=paris_session,
            given_name="Zéphyrine",
            phone="+33612345678",
            nurse=nurse,
        ),
        "marseille_dose": _dose_given(
            site=marseille,
            session=marseille_session,
            given_name="Marius",
            phone="+33612345679",
            nurse=nurse,
        ),
    }


def _token(username: str, role: str, departments=()) -> str:
    user = staff_account_create(
        username=username,
        password=DEMO_PASSWORD,
        role=role,
        departments=list(Department.objects.filter(code__in=departments)),
    )
    return api_token_create(actor=None, user=user, name="Registre", days=30).secret


def _get(client, token: str | None, **query):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/fhir/r4/Immunization", query, **headers)


def _bundle(answer) -> list[dict]:
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"] == "application/fhir+json"
    body = answer.json()
    Bundle.model_validate(body)
    for entry in body["entry"]:
        Immunization.model_validate(entry["resource"])
    return body


def _outcome(answer, status: int) -> str:
    assert answer.status_code == status
    body = answer.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]["code"]


def test_a_national_token_reads_every_dose_given_and_each_read_is_audited(client, doses):
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    body = _bundle(_get(client, token))
    found = {entry["resource"]["id"]: entry["resource"] for entry in body["entry"]}
    paris_dose = doses["paris_dose"]
    assert set(found) == {str(paris_dose.pk), str(doses["marseille_dose"].pk)}
    paris = found[str(paris_dose.pk)]
    patient = paris["contained"][0]
    assert paris["patient"] == {"reference": "#patient"}
    assert patient["name"] == [{"family": "Martin", "given": ["Zéphyrine"]}]
    assert patient["birthDate"] == paris_dose.appointment.person.birth_date.isoformat()
    codings = {(c["system"], c["code"]) for c in paris["vaccineCode"]["coding"]}
    assert {
        ("http://www.whocc.no/atc", "J07BX03"),
        ("https://ec.europa.eu/health/documents/community-register/html/", "EU/1/20/1528"),
        ("http://hl7.org/fhir/sid/cvx", "208"),
    } <= codings
    assert paris["status"] == "completed"
    assert paris["lotNumber"] == LOT
    assert paris["occurrenceDateTime"].startswith(DAY.isoformat())
    assert paris["location"] == {
        "reference": f"Location/{doses['paris'].pk}",
        "display": "Centre Paris 17",
    }
    assert paris["performer"][0]["actor"]["display"] == "Inès Lebrun"
    assert paris["protocolApplied"] == [{"doseNumberPositiveInt": 1}]

    event = AuditEvent.objects.get(object_type="fhir.immunization", action="view")
    assert event.actor.username == "sante"
    assert sorted(event.details["administrations"]) == sorted(
        [paris_dose.pk, doses["marseille_dose"].pk]
    )
    assert ApiToken.objects.get().last_used_at is not None


def test_a_regional_token_reads_only_the_doses_of_its_departments(client, doses):
    token = _token("ars.paca", Role.REGIONAL_AUTHORITY, departments=["13"])
    body = _bundle(_get(client, token))
    assert [e["resource"]["id"] for e in body["entry"]] == [str(doses["marseille_dose"].pk)]
    assert "Zéphyrine" not in str(body)
    elsewhere = _bundle(_get(client, token, location=f"Location/{doses['paris'].pk}"))
    assert elsewhere["entry"] == []


def test_search_by_date_and_location_with_paging(client, doses):
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    day = DAY.isoformat()
    both = _bundle(_get(client, token, date=[f"ge{day}", f"le{day}"]))
    assert len(both["entry"]) == 2
    later = (DAY + timedelta(days=1)).isoformat()
    assert _bundle(_get(client, token, date=f"ge{later}"))["entry"] == []
    earlier = (DAY - timedelta(days=1)).isoformat()
    assert _bundle(_get(client, token, date=f"le{earlier}"))["entry"] == []
    instant = f"le{at(DAY, 9, 5).isoformat()}"
    assert len(_bundle(_get(client, token, date=instant))["entry"]) == 2
    paris = _bundle(_get(client, token, location=f"Location/{doses['paris'].pk}"))
    assert [e["resource"]["id"] for e in paris["entry"]] == [str(doses["paris_dose"].pk)]

    first = _bundle(_get(client, token, _count=1))
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert following.startswith("https://creneau.example.fr/fhir/r4/Immunization?")
    assert "_page=2" in following
    second = _bundle(_get(client, token, _count=1, _page=2))
    assert not [link for link in second["link"] if link["relation"] == "next"]
    assert {first["entry"][0]["resource"]["id"], second["entry"][0]["resource"]["id"]} == {
        str(doses["paris_dose"].pk),
        str(doses["marseille_dose"].pk),
    }
    # One event per read, with the ids it answered.
    assert AuditEvent.objects.filter(object_type="fhir.immunization", action="view").count() == 7


def test_a_withdrawn_dose_is_told_as_entered_in_error(client, doses):
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    dose = doses["paris_dose"]
    administration_withdraw(
        actor=Actor(user=doses["nurse"]),
        appointment_id=dose.appointment_id,
        site_id=doses["paris"].pk,
        reason="Mauvaise personne",
        now=at(DAY, 9, 30),
    )
    body = _bundle(_get(client, token, location=f"Location/{doses['paris'].pk}"))
    assert [e["resource"]["status"] for e in body["entry"]] == ["entered-in-error"]


def test_without_a_good_authority_token_nothing_is_read(client, doses, django_user_model):
    assert _outcome(_get(client, None), 401) == "login"
    assert _outcome(_get(client, "crn_not-a-token"), 401) == "login"
    # The management token of a booking, or a session, opens nothing here either.
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    user = django_user_model.objects.get(username="sante")
    api_token_revoke(actor=None, user=user, token_id=ApiToken.objects.get().pk)
    assert _outcome(_get(client, token), 401) == "login"

    expired = api_token_create(actor=None, user=user, name="Court", days=1)
    ApiToken.objects.filter(pk=expired.token.pk).update(
        created_at=expired.token.created_at - timedelta(days=2),
        expires_at=expired.token.created_at - timedelta(days=1),
    )
    assert _outcome(_get(client, expired.secret), 401) == "login"

    # An authority's account become a site manager's: its token no longer opens anything.
    fresh = api_token_create(actor=None, user=user, name="Neuf", days=1).secret
    StaffProfile.objects.filter(user=user).update(role=Role.SITE_MANAGER)
    assert _outcome(_get(client, fresh), 403) == "forbidden"
    refused = AuditEvent.objects.get(object_type="fhir.immunization", action="refused")
    assert refused.actor == user
    # No dose was read by any of these.
    assert not AuditEvent.objects.filter(object_type="fhir.immunization", action="view").exists()

    user.is_active = False
    user.save()
    StaffProfile.objects.filter(user=user).update(role=Role.NATIONAL_AUTHORITY)
    assert _outcome(_get(client, fresh), 401) == "login"


@pytest.mark.parametrize(
    "query, code",
    [
        ({"date": "gt2026-01-01"}, "not-supported"),
        ({"date": "gehier"}, "invalid"),
        ({"date": "ge2026-13-01"}, "invalid"),
        ({"_count": "0"}, "invalid"),
        ({"_count": "abc"}, "invalid"),
    ],
)
def test_bad_searches_are_operation_outcomes(client, doses, query, code):
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    assert _outcome(_get(client, token, **query), 400) == code
    assert not AuditEvent.objects.filter(object_type="fhir.immunization", action="view").exists()


def test_a_location_that_is_not_an_id_is_refused(client, doses):
    token = _token("sante", Role.NATIONAL_AUTHORITY)
    assert _outcome(_get(client, token, location="Location/abc"), 404) == "not-found"
