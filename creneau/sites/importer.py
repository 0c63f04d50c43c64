"""Reading the official list of vaccination sites ("Lieux de vaccination contre la Covid-19").

The file is published on data.gouv.fr (dataset 60007bfb10632c47538583d8) by the ministry of
health, from what the regional health agencies entered for sante.fr. This module only turns
its rows into plain values or a reject reason; `services.sites_import_official` decides what
to write. Nothing here touches the database.
"""

import csv
import gzip
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext

from creneau.core.errors import InvalidInput
from creneau.geography.text import search_name

from .models import Site

SOURCE = "sante.fr"
# The file's "reserve_professionels_sante": the code of health and social care workers in
# the category vocabulary (eligibility's Category), the one people tick and rules name;
# a code outside it would show as it is and admit no one.
HEALTH_PROFESSIONAL = "caregiver"

DAY_COLUMNS = {
    "rdv_lundi": "monday",
    "rdv_mardi": "tuesday",
    "rdv_mercredi": "wednesday",
    "rdv_jeudi": "thursday",
    "rdv_vendredi": "friday",
    "rdv_samedi": "saturday",
    "rdv_dimanche": "sunday",
}
REQUIRED_COLUMNS = (
    "gid",
    "nom",
    "adr_num",
    "adr_voie",
    "com_cp",
    "com_insee",
    "lat_coor1",
    "long_coor1",
    "_edit_datemaj",
    "lieu_accessibilite",
    *DAY_COLUMNS,
    "date_fermeture",
    "rdv_site_web",
    "rdv_tel",
    "rdv_tel2",
    "centre_fermeture",
    "reserve_professionels_sante",
    "centre_type",
)


class RejectReason(StrEnum):
    INVALID_ID = "invalid_id"
    DUPLICATE_ID = "duplicate_id"
    NO_NAME = "no_name"
    FOREIGN_PLACEHOLDER = "foreign_placeholder"
    TEST_ROW = "test_row"
    COORDINATES_MISSING = "coordinates_missing"
    COORDINATES_INVALID = "coordinates_invalid"
    COORDINATES_OUT_OF_RANGE = "coordinates_out_of_range"
    COORDINATES_ZERO = "coordinates_zero"
    UNKNOWN_DEPARTMENT = "unknown_department"


class RowRejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class OfficialSite:
    """One row of the file, cleaned, before the database says which commune it is in."""

    line: int
    external_id: str
    name: str
    kind: str
    address: str
    postcode: str
    insee_code: str
    latitude: float
    longitude: float
    phones: tuple[str, ...]
    accessibility: str
    finess: str
    opening_hours: dict[str, str]
    restricted_to: list[str]
    booking_url: str
    closed: bool
    closing_date: date | None


def rows_read(*, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row of a .csv or .csv.gz file; the header is line 1."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        # utf-8-sig: a copy re-saved by a spreadsheet starts with a byte-order mark.
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=";")
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInput(
                    gettext(
                        "%(file)s n'est pas la liste officielle des lieux de vaccination : "
                        "colonnes manquantes (%(columns)s)."
                    )
                    % {"file": path.name, "columns": ", ".join(missing)},
                    missing=missing,
                )
            for row in reader:
                yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, csv.Error) as error:
        raise InvalidInput(
            gettext("%(file)s est illisible : %(error)s.") % {"file": path.name, "error": error}
        ) from error


def edit_date(row: dict[str, str]) -> date | None:
    return _date(row.get("_edit_datemaj", "")[:10])


def official_site_parse(*, line: int, row: dict[str, str]) -> OfficialSite:
    """Clean one row, or raise RowRejected for a row that is not a real, placeable site."""
    gid = row["gid"].strip()
    if not gid or len(gid) > 50:
        raise RowRejected(RejectReason.INVALID_ID)
    # One fictitious "centre" per foreign country (gid 9900 + country code), for internal use.
    if len(gid) == 9 and gid.startswith("9900"):
        raise RowRejected(RejectReason.FOREIGN_PLACEHOLDER)
    name = _one_line(row["nom"])
    if not name:
        raise RowRejected(RejectReason.NO_NAME)
    if _TEST_NAME.match(name):
        raise RowRejected(RejectReason.TEST_ROW)
    latitude, longitude = _coordinates(row["lat_coor1"], row["long_coor1"])
    return OfficialSite(
        line=line,
        external_id=gid,
        name=name[:200],
        kind=kind_derive(name=name, centre_types=centre_types_parse(row["centre_type"])),
        address=_one_line(f"{row['adr_num']} {row['adr_voie']}")[:250],
        postcode=_postcode(row["com_cp"]),
        insee_code=_insee_code(row["com_insee"]),
        latitude=latitude,
        longitude=longitude,
        phones=(row["rdv_tel"], row["rdv_tel2"]),
        accessibility=_accessibility(row["lieu_accessibilite"]),
        finess=finess_parse(row["lieu_accessibilite"]),
        opening_hours={
            day: hours for column, day in DAY_COLUMNS.items() if (hours := _one_line(row[column]))
        },
        restricted_to=[HEALTH_PROFESSIONAL] if _true(row["reserve_professionels_sante"]) else [],
        booking_url=booking_url_clean(row["rdv_site_web"]),
        closed=_true(row["centre_fermeture"]),
        closing_date=_date(row["date_fermeture"]),
    )


# "Test_sauve_mon_vaccin2", "Test_sauve mon vaccin", "test sda": rows left by the publisher's tests.
_TEST_NAME = re.compile(r"test[\s_]", re.IGNORECASE)


def centre_types_parse(literal: str) -> list[str]:
    """'{"Equipe mobile","Grand centre"}' or '{USMP}' (a Postgres array literal) as a list."""
    inner = literal.strip().removeprefix("{").removesuffix("}")
    if not inner:
        return []
    reader = csv.reader([inner], delimiter=",", quotechar='"', escapechar="\\")
    return [value.strip() for value in next(reader) if value.strip()]


# A team that goes to people: "Equipe mobile…", "Vaccinobus", "Dispositif "aller vers"…",
# "Centre de vaccination itinérant".
_MOBILE = re.compile(r"\b(mobiles?|bus|vaccinobus|vaccibus|vaccimobile|itinerante?s?|aller vers)\b")
# Capitals only: "équipe mobile de vaccination", Île-de-France's name for its teams.
_MOBILE_ACRONYM = re.compile(r"\bEMV\b")
_PHARMACY = re.compile(r"\bpharmacies?\b")
_HOSPITAL = re.compile(
    r"\b(hopital|hopitaux|hospitalier|hospitaliere|hospitalieres|clinique|polyclinique)\b"
)
# Capitals only: the abbreviations of "centre hospitalier (universitaire, régional…)".
_HOSPITAL_ACRONYM = re.compile(r"\b(CHU|CHRU|CHR|CHI|CH)\b")
_GP_PRACTICE = re.compile(r"\b(cabinet|cabinets|medecin|medecins|maison de sante|msp)\b")
_CENTRE = re.compile(r"\b(centres?|vaccinodrome)\b")
# Capitals only: "centre de vaccination (ambulatoire)". Not "CDV": "Opérations éphémères non
# rattachées à un CDV" are mobile teams.
_CENTRE_ACRONYM = re.compile(r"\b(CV|CVA)\b")
# The two labels that say what a place is rather than what it takes part in.
_MOBILE_LABEL = "equipe mobile"
_GRAND_CENTRE_LABEL = "grand centre"


def kind_derive(*, name: str, centre_types: list[str]) -> str:
    """The kind of place, guessed from its name, then from the publisher's labels.

    The file has no "kind" column. Its `centre_type` labels are the programmes a place takes
    part in, several at once ("Grand centre", "Equipe mobile", "Dispositif aller vers ...",
    "Campagne scolaire"…): hospitals and centres that send out a mobile team are labelled
    "Equipe mobile" too (in Lyon, the Croix-Rousse and Edouard Herriot hospitals), so the
    labels only decide for a name that says nothing of the place ("Mairie du 6e"), and
    "Dispositif aller vers ..." never does (fixed centres carry it too). In the name, the
    order matters: "Centre de vaccination du CH de X" is a hospital, a mobile team run by a
    hospital is a mobile team.
    """
    words = search_name(name)
    if _MOBILE.search(words) or _MOBILE_ACRONYM.search(name):
        return Site.Kind.MOBILE
    if _PHARMACY.search(words):
        return Site.Kind.PHARMACY
    if _HOSPITAL.search(words) or _HOSPITAL_ACRONYM.search(name):
        return Site.Kind.HOSPITAL
    if _GP_PRACTICE.search(words):
        return Site.Kind.GP_PRACTICE
    if _CENTRE.search(words) or _CENTRE_ACRONYM.search(name):
        return Site.Kind.CENTRE
    labels = {search_name(label) for label in centre_types}
    if _MOBILE_LABEL in labels and _GRAND_CENTRE_LABEL not in labels:
        return Site.Kind.MOBILE
    return Site.Kind.CENTRE


# Postcodes of the overseas collectivities that do not start with their own code.
_POSTCODE_DEPARTMENT_EXCEPTIONS = {"97133": "977", "97150": "978"}
_CORSICA_POSTCODE_DEPARTMENTS = {"200": "2A", "201": "2A", "202": "2B", "206": "2B"}


def department_code_guess(*, insee_code: str, postcode: str) -> str | None:
    """The department a row is in when its commune is not in the database.

    The INSEE code carries the department; the postcode only says which post office serves
    the place, which is the same department nearly always.
    """
    if insee_code:
        return insee_code[:3] if insee_code.startswith(("97", "98")) else insee_code[:2]
    if not postcode:
        return None
    if postcode.startswith(("97", "98")):
        return _POSTCODE_DEPARTMENT_EXCEPTIONS.get(postcode, postcode[:3])
    if postcode.startswith("20"):
        return _CORSICA_POSTCODE_DEPARTMENTS.get(postcode[:3])
    return postcode[:2]


# Overseas, a number dialled 0262… locally is +262 262… from abroad, not +33 262….
_PHONE_REGIONS = {
    "971": "GP",
    "972": "MQ",
    "973": "GF",
    "974": "RE",
    "975": "PM",
    "976": "YT",
    "977": "BL",
    "978": "MF",
    "986": "WF",
    "987": "PF",
    "988": "NC",
}


def phone_normalise(*, raw: str, department_code: str | None) -> str:
    """The E.164 form of a phone number, or "" when it is not a valid number."""
    try:
        number = phonenumbers.parse(raw.strip(), "FR")
    except phonenumbers.NumberParseException:
        return ""
    local_region = _PHONE_REGIONS.get(department_code or "")
    # An overseas site's number written the mainland way (0590…, or +33 590… by mistake) is
    # read as it is dialled there. 08 numbers (hotlines) are national wherever the site is.
    national = str(number.national_number)
    if local_region and number.country_code == 33 and not national.startswith("8"):
        try:
            local = phonenumbers.parse(f"0{national}", local_region)
        except phonenumbers.NumberParseException:
            local = None
        if local is not None and phonenumbers.is_valid_number(local):
            number = local
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_URL = URLValidator(schemes=["http", "https"])


def booking_url_clean(raw: str) -> str:
    """The booking link, or "" when the cell holds free text ("RIEN", "doctolib", an email)."""
    url = raw.strip()
    if not url or len(url) > 500:
        return ""
    try:
        _URL(url)
    except ValidationError:
        return ""
    return url


def _coordinates(raw_latitude: str, raw_longitude: str) -> tuple[float, float]:
    if not (raw_latitude.strip() and raw_longitude.strip()):
        raise RowRejected(RejectReason.COORDINATES_MISSING)
    try:
        latitude, longitude = float(raw_latitude), float(raw_longitude)
    except ValueError:
        raise RowRejected(RejectReason.COORDINATES_INVALID) from None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        raise RowRejected(RejectReason.COORDINATES_INVALID)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise RowRejected(RejectReason.COORDINATES_OUT_OF_RANGE)
    # 0,0 is in the Gulf of Guinea: it is what the publisher's tools write for "unknown".
    if latitude == 0 and longitude == 0:
        raise RowRejected(RejectReason.COORDINATES_ZERO)
    return latitude, longitude


def _postcode(raw: str) -> str:
    code = raw.strip()
    # Some regions' rows went through a spreadsheet that dropped the leading zero (9110).
    if re.fullmatch(r"\d{4}", code):
        code = "0" + code
    return code if re.fullmatch(r"\d{5}", code) else ""


def _insee_code(raw: str) -> str:
    code = raw.strip().upper()
    if re.fullmatch(r"\d{4}", code):
        code = "0" + code
    return code if re.fullmatch(r"\d{5}|2[AB]\d{3}", code) else ""


def _accessibility(raw: str) -> str:
    text = _one_line(raw)
    # Some rows hold a FINESS establishment number here, which tells a visitor nothing.
    if text.isdigit():
        return ""
    return text[:250]


# Nine characters: the department (2A and 2B for Corsica, 97 overseas), then seven digits.
_FINESS = re.compile(r"(\d{2}|2[AB])\d{7}")


def finess_parse(raw: str) -> str:
    """The FINESS number some regions put in the accessibility column ("590780193"), or "".

    The file has no column for it, but the number is what identifies a health establishment
    to other systems (the register of establishments, other booking platforms' feeds).
    """
    text = raw.strip().upper()
    return text if _FINESS.fullmatch(text) else ""


def _one_line(raw: str) -> str:
    return " ".join(raw.split())


def _true(raw: str) -> bool:
    return raw.strip().lower() == "t"


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None
