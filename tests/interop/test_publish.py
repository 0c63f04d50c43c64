"""Publishing our slots as SMART Scheduling Links files, and serving them cheaply."""

import json
import os
from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from creneau.interop import smart
from creneau.interop.publish import LOCATIONS, MANIFEST, SCHEDULES, smart_publish
from creneau.scheduling.models import Slot
from creneau.sites.models import Site
from tests.factories import deliver, make_site, open_session, tomorrow


@pytest.fixture
def published(reference, settings, tmp_path):
    settings.SMART_PUBLISH_DIR = tmp_path
    settings.PUBLIC_URL = "https://creneau.example.fr"
    paris = make_site(
        name="Centre Paris 17",
        source="sante.fr",
        external_id="1234",
        finess="750000001",
        phone="+33140000000",
    )
    deliver(paris, 200)
    open_session(paris, lines=2)
    marseille = make_site(name="Centre Marseille", insee_code="13201")
    deliver(marseille, 200, code="spikevax")
    open_session(marseille, lines=1, code="spikevax", start=time(14), end=time(14, 30))
    draft = make_site(name="Brouillon", status=Site.Status.DRAFT)
    deliver(draft, 100)
    open_session(draft)
    return {"paris": paris, "marseille": marseille, "draft": draft, "dir": tmp_path}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_manifest_names_one_location_file_one_schedule_file_and_slots_per_department(
    published,
):
    report = smart_publish()
    assert report.sites == 2
    manifest = json.loads((published["dir"] / MANIFEST).read_text())
    assert manifest["request"] == "https://creneau.example.fr/smart/$bulk-publish"
    assert manifest["transactionTime"].endswith("Z")
    assert [(o["type"], o["url"].rsplit("/", 1)[1]) for o in manifest["output"]] == [
        ("Location", "locations.ndjson"),
        ("Schedule", "schedules.ndjson"),
        ("Slot", "slots-13.ndjson"),
        ("Slot", "slots-75.ndjson"),
    ]
    assert manifest["output"][3]["extension"] == {"state": ["FR-75"]}
    assert manifest["error"] == []


def test_locations_carry_our_id_the_official_id_and_finess_and_only_public_sites(published):
    smart_publish()
    locations = {r["id"]: r for r in _lines(published["dir"] / LOCATIONS)}
    paris = published["paris"]
    assert set(locations) == {str(paris.pk), str(published["marseille"].pk)}
    location = locations[str(paris.pk)]
    assert location["resourceType"] == "Location"
    assert location["name"] == "Centre Paris 17"
    assert location["identifier"] == [
        {"system": "https://creneau.example.fr/sites", "value": str(paris.pk)},
        {"system": smart.OFFICIAL_ID_SYSTEM, "value": "1234"},
        {"system": smart.FINESS_SYSTEM, "value": "750000001"},
    ]
    assert location["position"] == {"latitude": paris.latitude, "longitude": paris.longitude}
    assert {"system": "phone", "value": "+33140000000"} in location["telecom"]
    assert location["address"]["postalCode"] == paris.postcode
    assert location["address"]["district"] == "75"


def test_schedules_and_slots_follow_the_spec_with_places_left(published):
    paris = published["paris"]
    first = Slot.objects.filter(site=paris).order_by("start").first()
    # Booked out: still published, busy, with no place left.
    Slot.objects.filter(pk=first.pk).update(booked=2)
    smart_publish()
    schedules = _lines(published["dir"] / SCHEDULES)
    schedule = next(s for s in schedules if s["actor"] == [{"reference": f"Location/{paris.pk}"}])
    assert schedule["serviceType"] == smart.SERVICE_TYPE
    assert smart.extension_value(schedule, smart.VACCINE_DOSE) == 1
    product = smart.extension_value(schedule, smart.VACCINE_PRODUCT)
    assert (product["system"], product["code"]) == (smart.CVX, "208")
    slots = _lines(published["dir"] / "slots-75.ndjson")
    assert len(slots) == Slot.objects.filter(site=paris).count() == 6
    by_id = {s["id"]: s for s in slots}
    busy = by_id[str(first.pk)]
    assert busy["status"] == "busy"
    assert smart.extension_value(busy, smart.SLOT_CAPACITY) == 0
    free = next(s for s in slots if s["status"] == "free")
    assert free["schedule"] == {"reference": f"Schedule/{schedule['id']}"}
    assert smart.extension_value(free, smart.SLOT_CAPACITY) == 2
    assert smart.extension_value(free, smart.BOOKING_DEEP_LINK) == (
        f"https://creneau.example.fr/centres/{paris.pk}/?day={tomorrow().isoformat()}"
        "&vaccine=comirnaty"
    )
    assert smart.extension_value(free, smart.BOOKING_PHONE) == "+33140000000"
    assert free["start"].endswith("Z") and free["end"] > free["start"]
    marseille = _lines(published["dir"] / "slots-13.ndjson")
    assert {smart.extension_value(s, smart.BOOKING_PHONE) for s in marseille} == {None}


def test_past_slots_and_closed_sessions_are_not_published(published):
    paris = published["paris"]
    later = timezone.now() + timedelta(days=2)
    smart_publish(now=later)
    assert not (published["dir"] / "slots-75.ndjson").exists()
    assert _lines(published["dir"] / SCHEDULES) == []
    manifest = json.loads((published["dir"] / MANIFEST).read_text())
    assert [o["type"] for o in manifest["output"]] == ["Location", "Schedule"]
    assert paris.pk  # the site itself is still listed
    assert str(paris.pk) in {r["id"] for r in _lines(published["dir"] / LOCATIONS)}


def test_no_personal_data_is_published(published):
    from creneau.booking.services import booking_confirm, hold_create
    from tests.factories import person, verified_contact

    open_session(published["paris"], day=tomorrow(42), dose_number=2)
    slot = Slot.objects.filter(site=published["paris"], dose_number=1).first()
    contact = verified_contact("+33611223344")
    hold = hold_create(slot_id=slot.pk).hold
    booking_confirm(
        hold_id=hold.pk,
        person=person(given_name="Zéphyrine", family_name="Quenouille"),
        contact=contact,
    )
    smart_publish()
    everything = "".join(p.read_text() for p in published["dir"].iterdir() if p.is_file())
    for personal in ("Zéphyrine", "Quenouille", "611223344"):
        assert personal not in everything


def test_unchanged_files_are_not_rewritten_and_a_change_rewrites_only_its_file(published):
    directory = published["dir"]
    smart_publish()
    before = {p.name: os.stat(p).st_mtime_ns for p in directory.iterdir()}
    again = smart_publish()
    assert again.written == []
    assert {p.name: os.stat(p).st_mtime_ns for p in directory.iterdir()} == before
    Slot.objects.filter(site=published["marseille"]).update(booked=1)
    changed = smart_publish()
    assert sorted(changed.written) == [MANIFEST, "slots-13.ndjson"]
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_run_leaves_the_published_files_as_they_were(published, monkeypatch):
    directory = published["dir"]
    smart_publish()
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    Slot.objects.filter(site=published["marseille"]).update(booked=1)

    def broken(**kwargs):
        yield from ()
        raise RuntimeError("database gone")

    monkeypatch.setattr("creneau.interop.publish.publication_slots", broken)
    with pytest.raises(RuntimeError):
        smart_publish()
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_files_are_served_with_etag_and_last_modified_and_304_without_a_query(published, client):
    smart_publish()
    with CaptureQueriesContext(connection) as queries:
        answer = client.get("/smart/$bulk-publish")
        assert answer.status_code == 200
        assert answer["Content-Type"] == "application/json"
        etag, modified = answer["ETag"], answer["Last-Modified"]
        assert json.loads(b"".join(answer.streaming_content))["output"]
        assert client.get("/smart/$bulk-publish", HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert (
            client.get("/smart/$bulk-publish", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
        )
        slots = client.get("/smart/slots-75.ndjson")
        assert slots.status_code == 200
        assert slots["Content-Type"] == "application/fhir+ndjson"
        assert "max-age=60" in slots["Cache-Control"]
        assert len(b"".join(slots.streaming_content).splitlines()) == 6
    assert len(queries) == 0
    Slot.objects.filter(site=published["paris"]).update(booked=1)
    smart_publish()
    fresh = client.get("/smart/slots-75.ndjson", HTTP_IF_NONE_MATCH=slots["ETag"])
    assert fresh.status_code == 200 and fresh["ETag"] != slots["ETag"]


@pytest.mark.parametrize(
    "path",
    [
        "/smart/slots-99.ndjson",
        "/smart/..%2F.state.json",
        "/smart/.state.json",
        "/smart/secret.txt",
    ],
)
def test_unknown_or_unsafe_names_are_404(published, client, path):
    smart_publish()
    assert client.get(path).status_code == 404


def test_writes_are_refused(published, client):
    smart_publish()
    assert client.post("/smart/$bulk-publish").status_code == 405
