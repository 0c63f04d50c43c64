"""Importing other platforms' feeds: the round trip of our own files, the sample feed of the
specification, and feeds that are down, hostile or stale."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from django.utils import timezone

from creneau.core.errors import InvalidInput
from creneau.core.geo import Position
from creneau.interop.models import ExternalAvailability, ExternalLocation, ExternalPlatform
from creneau.interop.publish import smart_publish
from creneau.interop.selectors import external_search, national_search, platform_confirmed
from creneau.interop.services import (
    feed_import,
    platform_external_sites_confirm,
    platform_register,
)
from creneau.scheduling.models import DayAvailability, Slot
from tests.factories import STAFF, deliver, make_site, open_session, tomorrow

SAMPLE = Path(__file__).parent / "data" / "smart-scheduling-links"
PARIS = Position(48.8566, 2.3522)


def _ndjson(resources: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def _feed(server, *, locations, schedules, slots, prefix="/feed") -> str:
    server.routes[f"{prefix}/locations.ndjson"] = _ndjson(locations)
    server.routes[f"{prefix}/schedules.ndjson"] = _ndjson(schedules)
    server.routes[f"{prefix}/slots.ndjson"] = (
        slots if isinstance(slots, bytes) or callable(slots) else _ndjson(slots)
    )
    server.routes[f"{prefix}/$bulk-publish"] = orjson.dumps(
        {
            # A new transaction time with each change of the files, as publishers do.
            "transactionTime": timezone.now().isoformat(),
            "request": server.url(f"{prefix}/$bulk-publish"),
            "output": [
                {"type": "Location", "url": "locations.ndjson"},
                {"type": "Schedule", "url": server.url(f"{prefix}/schedules.ndjson")},
                {"type": "Slot", "url": f"{prefix}/slots.ndjson"},
            ],
            "error": [],
        }
    )
    return server.url(f"{prefix}/$bulk-publish")


def _location(i: int, **fields) -> dict:
    return {
        "resourceType": "Location",
        "id": f"L{i}",
        "name": f"Pharmacie du Marais {i}",
        "address": {"line": [f"{i} rue de Rivoli"], "city": "Paris", "postalCode": "75004"},
        "position": {"latitude": 48.857 + i * 0.001, "longitude": 2.355},
        "telecom": [{"system": "url", "value": f"https://rdv.example.org/lieu/{i}"}],
        **fields,
    }


def _schedule(i: int) -> dict:
    return {
        "resourceType": "Schedule",
        "id": f"S{i}",
        "actor": [{"reference": f"Location/L{i}"}],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-product",
                "valueCoding": {"system": "http://hl7.org/fhir/sid/cvx", "code": "208"},
            }
        ],
    }


def _slot(i: int, n: int, *, start=None, **fields) -> dict:
    start = start or (timezone.now() + timedelta(days=1, hours=n)).replace(microsecond=0)
    return {
        "resourceType": "Slot",
        "id": f"{i}-{n}",
        "schedule": {"reference": f"Schedule/S{i}"},
        "status": "free",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=10)).isoformat(),
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link",
                "valueUrl": f"https://rdv.example.org/book?slot={i}-{n}",
            },
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity",
                "valueInteger": 2,
            },
        ],
        **fields,
    }


def _good_feed(server, prefix="/feed") -> str:
    return _feed(
        server,
        locations=[_location(1), _location(2)],
        schedules=[_schedule(1), _schedule(2)],
        slots=[_slot(1, 1), _slot(1, 2), _slot(2, 3)],
        prefix=prefix,
    )


def _rows() -> list[tuple]:
    return sorted(
        ExternalAvailability.objects.values_list(
            "location__external_id",
            "vaccine__code",
            "dose_number",
            "date",
            "free",
            "first_free_start",
            "booking_url",
        )
    )


@pytest.fixture
def platform(reference, feed_server):
    url = _good_feed(feed_server)
    platform = platform_register(actor=STAFF, name="Rdv Exemple", manifest_url=url)
    report = feed_import(platform_id=platform.pk)
    assert report.error == ""
    platform_external_sites_confirm(actor=STAFF, platform_id=platform.pk)
    platform.refresh_from_db()
    return platform


# Round trip --------------------------------------------------------------------------


def test_our_published_files_read_back_by_our_importer_give_exactly_our_availability(
    reference, feed_server, settings, tmp_path
):
    settings.SMART_PUBLISH_DIR = tmp_path
    settings.PUBLIC_URL = feed_server.base
    paris = make_site(name="Centre Paris 17")
    deliver(paris, 500)
    open_session(paris, lines=3)
    open_session(paris, day=tomorrow(2), lines=1)
    open_session(paris, day=tomorrow(42), lines=2, dose_number=2)
    marseille = make_site(name="Centre Marseille", insee_code="13201")
    deliver(marseille, 500, code="janssen")
    open_session(marseille, code="janssen", lines=1)
    # Some places taken, one slot full: what is left is what must come back.
    first, second = Slot.objects.filter(site=paris, dose_number=1).order_by("start")[:2]
    Slot.objects.filter(pk=first.pk).update(booked=3)
    Slot.objects.filter(pk=second.pk).update(booked=1)
    from creneau.scheduling.services import availability_refresh

    availability_refresh(
        site_id=paris.pk, vaccine_id=first.vaccine_id, dose_number=1, days=[first.date]
    )
    smart_publish()
    for path in tmp_path.iterdir():
        feed_server.routes[f"/smart/{path.name}"] = path

    platform = platform_register(
        actor=STAFF, name="Nous-mêmes", manifest_url=feed_server.url("/smart/$bulk-publish")
    )
    report = feed_import(platform_id=platform.pk)

    assert report.error == ""
    assert (report.matched, report.external) == (2, 0)
    ours = sorted(
        (row.site_id, row.vaccine_id, row.dose_number, row.date, row.free, row.first_free_start)
        for row in DayAvailability.objects.filter(free__gt=0)
    )
    theirs = sorted(
        (
            row.location.site_id,
            row.vaccine_id,
            row.dose_number,
            row.date,
            row.free,
            row.first_free_start,
        )
        for row in ExternalAvailability.objects.select_related("location")
    )
    assert theirs == ours
    assert len(ours) == 4


# The sample feed of the specification --------------------------------------------------


def _sample_feed(server) -> str:
    """The specification's example files as published, with two changes a test needs:
    positions near Paris (the sample has none) and slots moved from 2021 to the coming weeks."""
    locations = [
        json.loads(line) for line in (SAMPLE / "locations.ndjson").read_text().splitlines()
    ]
    for i, location in enumerate(locations):
        location["position"] = {"latitude": 48.80 + i * 0.01, "longitude": 2.30 + i * 0.01}
    server.routes["/sample/locations.ndjson"] = _ndjson(locations)
    server.routes["/sample/schedules.ndjson"] = SAMPLE / "schedules.ndjson"
    slot_files = sorted(SAMPLE.glob("slots-*.ndjson"))
    first = min(json.loads(line)["start"] for line in slot_files[0].read_text().splitlines())
    shift = (
        timezone.now().replace(microsecond=0) + timedelta(days=1) - datetime.fromisoformat(first)
    )
    for path in slot_files:
        slots = []
        for line in path.read_text().splitlines():
            slot = json.loads(line)
            for key in ("start", "end"):
                slot[key] = (datetime.fromisoformat(slot[key]) + shift).isoformat()
            slots.append(slot)
        server.routes[f"/sample/{path.name}"] = _ndjson(slots)
    manifest = json.loads((SAMPLE / "bulk-publish.json").read_text())
    for output in manifest["output"]:
        output["url"] = server.url("/sample/" + output["url"].rsplit("/", 1)[1])
    server.routes["/sample/$bulk-publish"] = orjson.dumps(manifest)
    return server.url("/sample/$bulk-publish")


def test_the_sample_feed_imports_and_shows_in_search_once_confirmed(reference, feed_server):
    platform = platform_register(
        actor=STAFF, name="SMART Exemple", manifest_url=_sample_feed(feed_server)
    )
    report = feed_import(platform_id=platform.pk)
    assert report.error == ""
    assert (report.locations, report.external, report.matched) == (10, 10, 0)
    # Every sample slot is free with 100 places (some start in the past once shifted).
    assert report.slots > 0 and report.slots % 100 == 0
    # Unmatched locations wait for the authority.
    assert external_search(origin=PARIS, radius_km=50) == []
    platform_external_sites_confirm(actor=STAFF, platform_id=platform.pk)
    results = external_search(origin=PARIS, radius_km=50)
    assert len(results) == 10
    assert [r.distance_km for r in results] == sorted(r.distance_km for r in results)
    assert results[0].platform == "SMART Exemple"
    assert results[0].booking_url.startswith("https://ehr-portal.example.org/bookings?slot=")
    assert results[0].vaccines == ("Spikevax (Moderna)",) or results[0].vaccine_codes == (
        "spikevax",
    )
    assert all(r.confirmed for r in results)


# Conditional requests, health ----------------------------------------------------------


def test_an_unchanged_feed_is_asked_conditionally_and_stays_confirmed(platform, feed_server):
    before = _rows()
    feed_server.requests.clear()
    report = feed_import(platform_id=platform.pk)
    assert report.unchanged
    assert feed_server.requests[0][1].get("If-None-Match")
    assert [path for path, _ in feed_server.requests] == ["/feed/$bulk-publish"]
    assert _rows() == before


def test_a_stale_feed_is_shown_as_not_confirmed_with_its_last_good_read(platform):
    now = timezone.now()
    assert platform_confirmed(platform=platform, now=now)
    later = now + timedelta(minutes=31)
    results = external_search(origin=PARIS, radius_km=20, now=later)
    assert results and not any(r.confirmed for r in results)
    assert results[0].read_at == platform.last_success_at


def test_the_national_search_puts_other_platforms_beside_ours(platform):
    ours = make_site(name="Centre Paris 4", insee_code="75104")
    deliver(ours, 100)
    open_session(ours)
    sites, elsewhere = national_search(origin=PARIS, radius_km=20)
    assert [r.site for r in sites] == [ours]
    assert [r.location.external_id for r in elsewhere] == ["L1", "L2"]
    assert elsewhere[0].available_slots == 4
    assert elsewhere[0].booking_url == "https://rdv.example.org/book?slot=1-1"


# Hostile feeds: refused or bounded, the error recorded, nothing else changed ------------


def _refused(platform, feed_server, *, slots=None, locations=None, schedules=None, **limits):
    before = _rows()
    locations_before = sorted(ExternalLocation.objects.values_list("external_id", "listed"))
    _feed(
        feed_server,
        locations=locations or [_location(1), _location(2)],
        schedules=schedules or [_schedule(1), _schedule(2)],
        slots=slots,
    )
    report = feed_import(platform_id=platform.pk)
    platform.refresh_from_db()
    assert report.error
    assert platform.last_error == report.error
    assert platform.errors_in_row == 1
    assert _rows() == before
    assert sorted(ExternalLocation.objects.values_list("external_id", "listed")) == (
        locations_before
    )
    assert not platform_confirmed(platform=platform, now=timezone.now())
    # Search still answers, from the last good read, marked not confirmed.
    results = external_search(origin=PARIS, radius_km=20)
    assert results and not any(r.confirmed for r in results)
    return report.error


def test_a_file_promising_10_gb_is_refused_before_its_body_is_read(platform, feed_server):
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * 1024**3))
        handler.end_headers()
        handler.wfile.write(b"{}")

    assert "trop gros" in _refused(platform, feed_server, slots=huge)


def test_a_file_bigger_than_it_says_is_cut_at_the_limit(platform, feed_server, settings):
    settings.INTEROP_MAX_BYTES = 100_000

    def unannounced(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            for n in range(10_000):
                handler.wfile.write(orjson.dumps(_slot(1, n)) + b"\n")
        except OSError:
            pass

    assert "trop gros" in _refused(platform, feed_server, slots=unannounced)


def test_one_endless_line_is_cut_at_the_line_limit(platform, feed_server):
    def endless(handler):
        handler.send_response(200)
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"x" * 65536)
        except OSError:
            pass

    assert "trop longue" in _refused(platform, feed_server, slots=endless)


def test_invalid_json_on_line_3_refuses_the_whole_feed(platform, feed_server):
    lines = _ndjson([_slot(1, 1), _slot(1, 2)]) + b'{"resourceType": "Slot", "id": \n'
    lines += _ndjson([_slot(2, 3)])
    assert "ligne 3" in _refused(platform, feed_server, slots=lines)


def test_10000_identical_slot_ids_are_refused(platform, feed_server):
    same = orjson.dumps(_slot(1, 1)) + b"\n"
    assert "en double" in _refused(platform, feed_server, slots=same * 10_000)


def test_too_many_lines_are_refused(platform, feed_server, settings):
    settings.INTEROP_MAX_LINES = 100
    slots = [_slot(1, n) for n in range(150)]
    assert "Trop de lignes" in _refused(platform, feed_server, slots=slots)


def test_a_feed_suddenly_empty_keeps_the_last_good_read(platform, feed_server):
    assert "soudainement vide" in _refused(platform, feed_server, slots=[])


def test_a_server_down_keeps_the_last_good_read(platform, feed_server):
    feed_server.routes.pop("/feed/$bulk-publish")
    before = _rows()
    report = feed_import(platform_id=platform.pk)
    assert "404" in report.error
    assert _rows() == before


def test_a_redirect_to_our_own_network_is_refused(platform, feed_server):
    def to_loopback(handler):
        handler.send_response(302)
        # The same machine, another port: not the one host:port the settings allow.
        handler.send_header("Location", "http://127.0.0.1:9/secret")
        handler.end_headers()

    assert "notre réseau" in _refused(platform, feed_server, slots=to_loopback)


def test_a_slot_in_1970_and_a_location_without_position_are_left_out_and_counted(
    platform, feed_server
):
    nowhere = _location(3)
    del nowhere["position"]
    _feed(
        feed_server,
        locations=[_location(1), _location(2), nowhere],
        schedules=[_schedule(1), _schedule(2), _schedule(3)],
        slots=[
            _slot(1, 1),
            _slot(2, 2),
            _slot(3, 3),
            _slot(1, 9, start=datetime(1970, 1, 1, tzinfo=UTC)),
        ],
    )
    report = feed_import(platform_id=platform.pk)
    platform.refresh_from_db()
    assert report.error == ""
    assert (report.without_position, report.ignored) == (1, 1)
    assert (platform.locations_ignored, platform.slots_ignored) == (1, 1)
    assert not ExternalLocation.objects.filter(external_id="L3").exists()
    assert {row[3].year for row in _rows()} == {tomorrow().year}


# Registration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/$bulk-publish",
        "http://localhost/$bulk-publish",
        "http://10.0.0.1/$bulk-publish",
        "http://[::1]/$bulk-publish",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.org/$bulk-publish",
        "file:///etc/passwd",
        "pas une adresse",
    ],
)
def test_a_platform_reaching_our_own_network_is_refused(reference, feed_server, url):
    with pytest.raises(InvalidInput):
        platform_register(actor=STAFF, name="Intrus", manifest_url=url)
    assert not ExternalPlatform.objects.exists()


def test_locations_are_matched_by_official_id_finess_or_a_close_position_and_similar_name(
    reference, feed_server
):
    ours = make_site(
        name="Centre de vaccination Paris 17",
        latitude=48.8850,
        longitude=2.3000,
        source="sante.fr",
        external_id="4242",
        finess="750000017",
    )
    near = {"latitude": 48.8853, "longitude": 2.3003}  # about 40 m away
    far = {"latitude": 48.8880, "longitude": 2.3000}  # about 330 m away
    official = "https://www.data.gouv.fr/datasets/lieux-de-vaccination-contre-la-covid-19"
    locations = [
        _location(1, name="Vaccination Paris 17e", position=near),
        _location(2, name="Pharmacie du Marais", position=near),
        _location(3, name="Centre de vaccination Paris 17", position=far),
        _location(
            4, name="Autre nom", position=far, identifier=[{"system": official, "value": "4242"}]
        ),
        _location(
            5,
            name="Encore un autre",
            position=far,
            identifier=[{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "750000017"}],
        ),
    ]
    url = _feed(
        feed_server,
        locations=locations,
        schedules=[_schedule(i) for i in range(1, 6)],
        slots=[_slot(i, i) for i in range(1, 6)],
    )
    platform = platform_register(actor=STAFF, name="Rdv Exemple", manifest_url=url)
    report = feed_import(platform_id=platform.pk)
    assert report.error == ""
    matched = dict(ExternalLocation.objects.values_list("external_id", "site_id"))
    assert matched == {"L1": ours.pk, "L2": None, "L3": None, "L4": ours.pk, "L5": ours.pk}
    # A matched location is shown where and as our directory has the site.
    shown = ExternalLocation.objects.get(external_id="L4")
    assert (shown.name, shown.latitude) == (ours.name, ours.latitude)
