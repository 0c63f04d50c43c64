"""FHIR R4 read-only (/fhir/r4/): every answer validated against fhir.resources' models."""

import json
from datetime import time

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot as FhirSlot

from creneau.interop.publish import smart_publish
from creneau.scheduling.models import Slot
from creneau.sites.models import Site
from tests.factories import deliver, make_site, open_session, tomorrow

MODELS = {
    "Location": Location,
    "Schedule": Schedule,
    "Slot": FhirSlot,
    "Appointment": Appointment,
}


@pytest.fixture
def sites(reference, settings, tmp_path):
    settings.PUBLIC_URL = "https://creneau.example.fr"
    settings.SMART_PUBLISH_DIR = tmp_path
    paris = make_site(name="Centre Paris 17", phone="+33140000000", finess="750000001")
    deliver(paris, 500)
    open_session(paris, start=time(9), end=time(11), lines=2)
    open_session(paris, day=tomorrow(42), lines=2, dose_number=2)
    nearby = make_site(name="Centre Paris 8", insee_code="75108")
    make_site(name="Brouillon", status=Site.Status.DRAFT)
    marseille = make_site(name="Centre Marseille", insee_code="13201")
    return {"paris": paris, "nearby": nearby, "marseille": marseille}


def _valid(answer, status=200):
    assert answer.status_code == status
    assert answer["Content-Type"] == "application/fhir+json"
    body = answer.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body.get("entry", []):
            MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    elif body["resourceType"] == "OperationOutcome":
        OperationOutcome.model_validate(body)
    else:
        {"CapabilityStatement": CapabilityStatement, **MODELS}[body["resourceType"]].model_validate(
            body
        )
    return body


def test_metadata_is_a_capability_statement(client, sites):
    body = _valid(client.get("/fhir/r4/metadata"))
    assert body["fhirVersion"] == "4.0.1"
    assert [r["type"] for r in body["rest"][0]["resource"]] == [
        "Location",
        "Schedule",
        "Appointment",
        "Slot",
        "Immunization",
    ]


def test_metadata_claims_a_read_by_id_only_where_a_route_answers_it(client, sites):
    body = _valid(client.get("/fhir/r4/metadata"))
    for resource in body["rest"][0]["resource"]:
        kind = resource["type"]
        claimed = {"code": "read"} in resource["interaction"]
        issues = client.get(f"/fhir/r4/{kind}/1").json().get("issue", [])
        unsupported = any(issue["code"] == "not-supported" for issue in issues)
        assert claimed != unsupported, kind


def test_locations_near_a_point_by_distance_with_paging(client, sites):
    paris, nearby = sites["paris"], sites["nearby"]
    near = f"{paris.latitude}|{paris.longitude}|20|km"
    first = _valid(client.get("/fhir/r4/Location", {"near": near, "_count": 1}))
    assert [e["resource"]["id"] for e in first["entry"]] == [str(paris.pk)]
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert following.startswith("https://creneau.example.fr/fhir/r4/Location?")
    second = _valid(client.get("/fhir/r4/Location", {"near": near, "_count": 1, "_page": 2}))
    assert [e["resource"]["id"] for e in second["entry"]] == [str(nearby.pk)]
    assert not [link for link in second["link"] if link["relation"] == "next"]
    everything = _valid(client.get("/fhir/r4/Location"))
    # Public sites only: no draft.
    assert len(everything["entry"]) == 3
    one = _valid(client.get(f"/fhir/r4/Location/{paris.pk}"))
    assert {"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "750000001"} in one["identifier"]


def test_schedules_and_free_slots_of_a_site(client, sites):
    paris = sites["paris"]
    schedules = _valid(client.get("/fhir/r4/Schedule", {"actor": f"Location/{paris.pk}"}))
    ids = [e["resource"]["id"] for e in schedules["entry"]]
    assert ids == [f"{paris.pk}-comirnaty-1", f"{paris.pk}-comirnaty-2"]
    first = Slot.objects.filter(site=paris, dose_number=1).order_by("start").first()
    Slot.objects.filter(pk=first.pk).update(booked=2)
    query = {"schedule": f"Schedule/{ids[0]}", "status": "free", "_count": 5}
    page = _valid(client.get("/fhir/r4/Slot", query))
    found = [e["resource"] for e in page["entry"]]
    assert len(found) == 5 and str(first.pk) not in {s["id"] for s in found}
    assert all(s["status"] == "free" for s in found)
    assert [link["relation"] for link in page["link"]] == ["self", "next"]
    later = _valid(client.get("/fhir/r4/Slot", {**query, "_page": 3}))
    assert len(later["entry"]) == 1  # 12 slots, one full: 11 free
    start = found[2]["start"].replace("Z", "+00:00")
    since = _valid(client.get("/fhir/r4/Slot", {**query, "start": f"ge{start}"}))
    assert since["entry"][0]["resource"]["id"] == found[2]["id"]


def test_slots_read_as_the_published_file_says(client, sites, settings):
    """The FHIR answer and the SMART file are built apart (one from templates, for speed):
    they must say the same of every slot."""
    paris = sites["paris"]
    Slot.objects.filter(pk=Slot.objects.filter(site=paris).first().pk).update(booked=2)
    smart_publish()
    lines = (settings.SMART_PUBLISH_DIR / "slots-75.ndjson").read_text().splitlines()
    published = {slot["id"]: slot for slot in map(json.loads, lines)}
    answered = {}
    for dose in (1, 2):
        query = {"schedule": f"Schedule/{paris.pk}-comirnaty-{dose}", "_count": 100}
        for entry in _valid(client.get("/fhir/r4/Slot", query))["entry"]:
            answered[entry["resource"]["id"]] = entry["resource"]
    assert answered == published
    assert len(published) == Slot.objects.filter(site=paris).count()


def test_a_person_reads_their_own_booking_with_its_management_token(client, sites):
    from creneau.booking.services import booking_confirm, hold_create
    from tests.factories import person, verified_contact

    slot = Slot.objects.filter(site=sites["paris"], dose_number=1).first()
    booked = booking_confirm(
        hold_id=hold_create(slot_id=slot.pk).hold.pk,
        person=person(given_name="Zéphyrine"),
        contact=verified_contact(),
    )
    reference, token = booked.series.reference, booked.management_token
    answer = client.get(
        "/fhir/r4/Appointment", {"identifier": reference}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    body = _valid(answer)
    found = [e["resource"] for e in body["entry"]]
    assert [a["description"] for a in found] == ["Dose 1", "Dose 2"]
    assert found[0]["slot"] == [{"reference": f"Slot/{slot.pk}"}]
    assert found[0]["status"] == "booked"
    assert found[0]["participant"][0]["actor"] == {"reference": f"Location/{sites['paris'].pk}"}
    assert "Zéphyrine" not in answer.content.decode()
    wrong = client.get(
        "/fhir/r4/Appointment", {"identifier": reference}, HTTP_AUTHORIZATION="Bearer nope"
    )
    assert _valid(wrong, status=404)["issue"][0]["code"] == "not-found"
    unknown = client.get(
        "/fhir/r4/Appointment", {"identifier": "ZZZZ-ZZZZ"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert _valid(unknown, status=404)["issue"][0]["code"] == "not-found"
    anonymous = client.get("/fhir/r4/Appointment", {"identifier": reference})
    assert _valid(anonymous, status=401)["issue"][0]["code"] == "login"


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("/fhir/r4/Location?near=abc", 400, "invalid"),
        ("/fhir/r4/Location?near=48.8|2.3|9999|km", 400, "invalid"),
        ("/fhir/r4/Location?_count=0", 400, "invalid"),
        ("/fhir/r4/Location?_count=1000", 400, "invalid"),
        ("/fhir/r4/Location/999999999", 404, "not-found"),
        ("/fhir/r4/Location/abc", 404, "not-found"),
        ("/fhir/r4/Schedule", 400, "too-costly"),
        ("/fhir/r4/Slot", 400, "too-costly"),
        ("/fhir/r4/Slot?schedule=Schedule/1-comirnaty-1&start=lt2026-01-01", 400, "not-supported"),
        ("/fhir/r4/Slot?schedule=Schedule/1-comirnaty-1&start=gehier", 400, "invalid"),
        ("/fhir/r4/Slot?schedule=Schedule/1-comirnaty-1&status=busy", 400, "not-supported"),
        ("/fhir/r4/Immunization", 401, "login"),
        ("/fhir/r4/Immunization/1", 401, "login"),
        ("/fhir/r4/Patient/1", 404, "not-supported"),
    ],
)
def test_bad_requests_are_operation_outcomes(client, sites, path, status, code):
    body = _valid(client.get(path), status=status)
    assert body["issue"][0]["code"] == code
