"""Publishing our availability as SMART Scheduling Links files.

`smart_publish` (run every minute by `manage.py smart_publish`) writes, into
`settings.SMART_PUBLISH_DIR`: `locations.ndjson` (every public site), `schedules.ndjson`
(one Schedule per site, product and dose with future slots), `slots-<department>.ndjson`
(the future slots of that department's public sites) and `$bulk-publish` (the manifest
naming them). Each file is written beside its final name, then moved over it with
`os.replace`: a reader has the old file or the new one, never half of one. A file whose
bytes did not change is not replaced, so its ETag and Last-Modified stay and finders'
conditional requests keep answering 304. The manifest is written last, after the files
it names.

Reads the database only through `selectors`; serving the files is the front door's
(`creneau/api/smart.py`), which never queries the database.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

from . import smart
from .selectors import (
    PublishedSite,
    PublishedSlot,
    publication_sites,
    publication_slots,
    publication_vaccines,
)

MANIFEST = "$bulk-publish"
LOCATIONS = "locations.ndjson"
SCHEDULES = "schedules.ndjson"
# Remembers each file's digest between runs, to leave unchanged files alone.
STATE = ".state.json"


def slot_file_name(department_code: str) -> str:
    return f"slots-{department_code}.ndjson"


@dataclass
class PublishReport:
    transaction_time: datetime
    sites: int = 0
    schedules: int = 0
    slots: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class _Output:
    """One NDJSON file being written to a temporary name in the publication directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        handle, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        self.path = Path(path)
        self.file = os.fdopen(handle, "wb", buffering=1 << 20)
        self.digest = hashlib.sha256()

    def write(self, resource: dict) -> None:
        line = orjson.dumps(resource, option=orjson.OPT_UTC_Z) + b"\n"
        self.file.write(line)
        self.digest.update(line)

    def write_line(self, line: str) -> None:
        data = line.encode()
        self.file.write(data)
        self.digest.update(data)

    def close(self) -> str:
        self.file.close()
        return self.digest.hexdigest()


def location_resource(site: PublishedSite, public_url: str) -> dict:
    identifiers = [{"system": smart.site_system(public_url), "value": str(site.id)}]
    if site.official_id:
        identifiers.append({"system": smart.OFFICIAL_ID_SYSTEM, "value": site.official_id})
    if site.finess:
        identifiers.append({"system": smart.FINESS_SYSTEM, "value": site.finess})
    telecom = []
    if site.phone:
        telecom.append({"system": "phone", "value": site.phone})
    telecom.append({"system": "url", "value": f"{public_url}/centres/{site.id}/"})
    address = {"city": site.city, "postalCode": site.postcode, "district": site.department}
    if site.address:
        address["line"] = [site.address]
    return {
        "resourceType": "Location",
        "id": str(site.id),
        "identifier": identifiers,
        "name": site.name,
        "telecom": telecom,
        "address": address,
        "position": {"latitude": site.latitude, "longitude": site.longitude},
    }


def vaccine_product_coding(code: str, name: str, eu_number: str, public_url: str) -> dict:
    """The one Coding of a Schedule's vaccine-product extension (0..1 in the SMART
    profile): CVX when the product has a code there (what finders read), else its EU
    register number, else our own code."""
    if cvx := smart.CVX_BY_VACCINE.get(code):
        return {"system": smart.CVX, "code": cvx, "display": name}
    if eu_number:
        return {"system": smart.EU_REGISTER, "code": eu_number, "display": name}
    return {"system": smart.vaccine_system(public_url), "code": code, "display": name}


def vaccine_codeable_concept(
    *, code: str, name: str, atc_code: str, eu_number: str, public_url: str
) -> dict:
    """Every code of a product, for an Immunization's vaccineCode: CVX, the EU register
    number, the ATC class, and our own code."""
    codings = []
    if cvx := smart.CVX_BY_VACCINE.get(code):
        codings.append({"system": smart.CVX, "code": cvx, "display": name})
    if eu_number:
        codings.append({"system": smart.EU_REGISTER, "code": eu_number, "display": name})
    if atc_code:
        codings.append({"system": smart.ATC, "code": atc_code})
    codings.append({"system": smart.vaccine_system(public_url), "code": code, "display": name})
    return {"coding": codings, "text": name}


def schedule_id(site_id: int, vaccine_code: str, dose_number: int) -> str:
    return f"{site_id}-{vaccine_code}-{dose_number}"


def schedule_resource(
    key: str, site_id: int, code: str, name: str, eu_number: str, dose: int, public_url: str
) -> dict:
    return {
        "resourceType": "Schedule",
        "id": key,
        "serviceType": smart.SERVICE_TYPE,
        "actor": [{"reference": f"Location/{site_id}"}],
        "extension": [
            {"url": smart.VACCINE_DOSE, "valueInteger": dose},
            {
                "url": smart.VACCINE_PRODUCT,
                "valueCoding": vaccine_product_coding(code, name, eu_number, public_url),
            },
        ],
    }


def slot_resource(
    row: PublishedSlot, *, site: PublishedSite, vaccine_code: str, public_url: str
) -> dict:
    """One Slot as a FHIR resource: what `smart_publish` writes, line for line, from its
    templates (a test holds the two together)."""
    slot_id, site_id, _, dose, day, start, end, capacity, booked = row
    left = capacity - booked
    extension = [
        {
            "url": smart.BOOKING_DEEP_LINK,
            "valueUrl": f"{public_url}/centres/{site_id}/?day={day.isoformat()}"
            f"&vaccine={vaccine_code}",
        }
    ]
    if site.phone:
        extension.append({"url": smart.BOOKING_PHONE, "valueString": site.phone})
    extension.append({"url": smart.SLOT_CAPACITY, "valueInteger": left})
    return {
        "resourceType": "Slot",
        "id": str(slot_id),
        "schedule": {"reference": f"Schedule/{schedule_id(site_id, vaccine_code, dose)}"},
        "status": "free" if left > 0 else "busy",
        "start": utc_instant(start),
        "end": utc_instant(end),
        "extension": extension,
    }


def _json(text: str) -> str:
    """`text` as a JSON string literal, quotes included."""
    return orjson.dumps(text).decode()


def utc_instant(instant: datetime) -> str:
    """2026-12-08T08:00:00Z: the database gives aware UTC datetimes."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def smart_publish(*, directory: Path | None = None, now: datetime | None = None) -> PublishReport:
    """Write the SMART Scheduling Links files of every public site and future slot."""
    directory = Path(directory or settings.SMART_PUBLISH_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or timezone.now()
    public_url = settings.PUBLIC_URL
    report = PublishReport(transaction_time=now)
    outputs: dict[str, _Output] = {}
    try:
        sites = publication_sites(now=now)
        locations = outputs[LOCATIONS] = _Output(directory, LOCATIONS)
        for site in sites.values():
            locations.write(location_resource(site, public_url))
        report.sites = len(sites)

        vaccines = publication_vaccines()
        schedules: dict[str, dict] = {}
        # What every slot of a site, product and dose shares, made once: the slot line is
        # then a few formatted numbers and dates (a million lines a minute).
        templates: dict[tuple[int, int, int], tuple[_Output, str, str, str]] = {}
        for row in publication_slots(now=now, site_ids=sites.keys()):
            slot_id, site_id, vaccine_id, dose, day, start, end, capacity, booked = row
            template = templates.get((site_id, vaccine_id, dose))
            if template is None:
                site = sites[site_id]
                code, name, eu_number = vaccines[vaccine_id]
                key = schedule_id(site_id, code, dose)
                schedules[key] = schedule_resource(
                    key, site_id, code, name, eu_number, dose, public_url
                )
                file_name = slot_file_name(site.department)
                output = outputs.get(file_name) or outputs.setdefault(
                    file_name, _Output(directory, file_name)
                )
                link = _json(f"{public_url}/centres/{site_id}/?day=")[:-1]
                phone = (
                    f',{{"url":"{smart.BOOKING_PHONE}","valueString":{_json(site.phone)}}}'
                    if site.phone
                    else ""
                )
                template = templates[(site_id, vaccine_id, dose)] = (
                    output,
                    f'"schedule":{{"reference":"Schedule/{key}"}},"status":"',
                    f'"extension":[{{"url":"{smart.BOOKING_DEEP_LINK}","valueUrl":{link}',
                    f'&vaccine={code}"}}{phone},{{"url":"{smart.SLOT_CAPACITY}","valueInteger":',
                )
            output, schedule_part, link_part, tail_part = template
            left = capacity - booked
            output.write_line(
                f'{{"resourceType":"Slot","id":"{slot_id}",{schedule_part}'
                f'{"free" if left > 0 else "busy"}","start":"{utc_instant(start)}",'
                f'"end":"{utc_instant(end)}",{link_part}{day.isoformat()}{tail_part}{left}}}]}}\n'
            )
            report.slots += 1
        schedule_output = outputs[SCHEDULES] = _Output(directory, SCHEDULES)
        for schedule in schedules.values():
            schedule_output.write(schedule)
        report.schedules = len(schedules)
        digests = {name: output.close() for name, output in outputs.items()}
    except BaseException:
        for output in outputs.values():
            output.file.close()
            output.path.unlink(missing_ok=True)
        raise
    return _commit(directory=directory, outputs=outputs, digests=digests, report=report)


def _commit(
    *, directory: Path, outputs: dict[str, _Output], digests: dict[str, str], report: PublishReport
) -> PublishReport:
    """Move the new files over the old ones (those that changed), then the manifest."""
    state_path = directory / STATE
    try:
        previous = json.loads(state_path.read_text())
    except (OSError, ValueError):
        previous = {}
    for name, output in outputs.items():
        if previous.get(name) == digests[name] and (directory / name).exists():
            output.path.unlink()
            continue
        os.replace(output.path, directory / name)
        report.written.append(name)
    gone = sorted(set(previous) - set(digests))
    if report.written or gone or not (directory / MANIFEST).exists():
        slot_files = sorted(name for name in digests if name.startswith("slots-"))
        manifest = {
            "transactionTime": report.transaction_time,
            "request": f"{settings.PUBLIC_URL}/smart/{MANIFEST}",
            "output": [
                {"type": "Location", "url": f"{settings.PUBLIC_URL}/smart/{LOCATIONS}"},
                {"type": "Schedule", "url": f"{settings.PUBLIC_URL}/smart/{SCHEDULES}"},
                *(
                    {
                        "type": "Slot",
                        "url": f"{settings.PUBLIC_URL}/smart/{name}",
                        # The spec's filter names US states; ours are ISO 3166-2 department
                        # codes (FR-75), so that a finder can fetch one department's slots.
                        "extension": {
                            "state": [f"FR-{name.removeprefix('slots-').removesuffix('.ndjson')}"]
                        },
                    }
                    for name in slot_files
                ),
            ],
            "error": [],
        }
        _write_atomically(directory / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_UTC_Z))
        report.written.append(MANIFEST)
    if digests != previous:
        _write_atomically(state_path, json.dumps(digests).encode())
    # After the new manifest: a finder holding the old one may still ask for these for a
    # minute, and gets a 404, as the spec allows for a file no longer listed.
    for name in gone:
        (directory / name).unlink(missing_ok=True)
        report.removed.append(name)
    return report


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
