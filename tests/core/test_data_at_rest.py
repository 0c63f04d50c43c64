"""Personal data at rest (issue 16): a person booked through the API, or through the
portal (whose session carries them until the booking is made), leaves none of their
name, phone number, e-mail address or birth date in the database as a thief would copy
it: the SQLite file with its write-ahead log, or a pg_dump."""

import glob
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.factories import two_dose_site
from tests.portal.test_pages import hold_first_slot, last_code

PHONE = "+33612345678"
EMAIL = "zephyrine.quatrebarbes@example.org"
BY_PHONE = {"given_name": "Zéphyrine", "family_name": "Quatrebarbes", "birth_date": "1941-07-19"}
# Booked on the portal, from a phone: the details as its form takes them.
ON_PORTAL = {"given_name": "Philibertine", "family_name": "Ravachol", "birth_date": "1937-04-23"}
PORTAL_PHONE = "+33698765432"
BY_EMAIL = {
    "given_name": "Théophraste",
    "family_name": "Ozanne-Lœvenbruck",
    "birth_date": "1938-11-05",
}


def needles() -> list[str]:
    """Each value in the forms a dump would show it: as typed, folded, in upper case; a
    phone number in E.164 and the national way; a date in ISO and French forms."""
    found = [PHONE, "0612345678", "06 12 34 56 78", EMAIL, EMAIL.split("@")[0]]
    found += [PORTAL_PHONE, "0698765432", "06 98 76 54 32"]
    for person in (BY_PHONE, BY_EMAIL, ON_PORTAL):
        for name in (person["given_name"], person["family_name"]):
            found += [name, name.lower(), name.upper()]
        found.append(person["family_name"].split("-")[0].lower())
        year, month, day = person["birth_date"].split("-")
        found += [person["birth_date"], f"{day}/{month}/{year}", f"{day}{month}{year}"]
    found += ["zephyrine", "theophraste", "quatrebarbes", "ozanne loevenbruck"]
    return found


def _api_book(client, slot_id: int, person: dict, **address) -> None:
    started = client.post("/api/v1/contacts/verifications", address, "application/json")
    assert started.status_code == 201, started.json()
    to = address.get("phone") or address["email"]
    body = client.get("/api/v1/demo/outbox", {"to": to}).json()["results"][0]["body"]
    confirmed = client.post(
        f"/api/v1/contacts/verifications/{started.json()['id']}/confirm",
        {"code": re.search(r"\b(\d{6})\b", body)[1]},
        "application/json",
    )
    hold = client.post("/api/v1/holds", {"slot_id": slot_id}, "application/json").json()
    booked = client.post(
        "/api/v1/bookings",
        {
            "hold_id": hold["id"],
            "contact_token": confirmed.json()["contact_token"],
            "person": person,
        },
        "application/json",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.json()


def _portal_book(client, site, session) -> None:
    hold_first_slot(client, site, session)
    year, month, day = ON_PORTAL["birth_date"].split("-")
    typed = {
        "given_name": ON_PORTAL["given_name"],
        "family_name": ON_PORTAL["family_name"],
        "birth_date_day": day,
        "birth_date_month": month,
        "birth_date_year": year,
        "phone": "06 98 76 54 32",
    }
    assert client.post("/reserver/personne/", typed)["Location"] == "/reserver/code/"
    confirmed = client.post("/reserver/code/", {"code": last_code(PORTAL_PHONE)})
    assert confirmed.status_code == 302 and "/rendez-vous/" in confirmed["Location"]


@pytest.fixture
def booked(reference_committed, client, settings):
    settings.DEMO = True
    site, session = two_dose_site()
    slots = list(session.slots.order_by("start"))
    _api_book(client, slots[0].pk, BY_PHONE, phone="06 12 34 56 78")
    _api_book(client, slots[1].pk, BY_EMAIL, email=EMAIL.upper())
    _portal_book(Client(), site, session)


def _pg_dump(*extra: str) -> bytes:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))
    assert found, "pg_dump: Debian's postgresql package"
    db = connection.settings_dict
    command = [found[-1], "--data-only", "--no-owner", "-h", db["HOST"], "-d", db["NAME"]]
    command += ["-p", str(db["PORT"] or 5432), "-U", db["USER"], *extra]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return subprocess.run(command, env=env, capture_output=True, check=True).stdout


def _raw_database() -> bytes:
    """What a copy of the database holds, the outbox included: the SQLite file and its
    write-ahead log as they are (what a copy of the disk holds), or a pg_dump."""
    if connection.vendor == "postgresql":
        return _pg_dump()
    name = connection.settings_dict["NAME"]
    return b"".join(Path(p).read_bytes() for p in (name, f"{name}-wal") if Path(p).exists())


def _found(raw: bytes) -> list[str]:
    return [needle for needle in needles() if needle.encode() in raw]


def test_the_database_and_its_log_hold_no_name_phone_email_or_birth_date(booked):
    raw = _raw_database()
    assert b"v1:" in raw  # the values are there, sealed
    assert _found(raw) == []
