"""Reading the health insurance fund's extract: the file checked as a whole (size,
encoding, columns), then each row on its own (a bad row is rejected with its line and
reason, never stops the rest). Nothing here writes: `services.population_import` does.

The file is read as a stream, one row at a time: memory stays the same for ten rows or a
million.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext

from creneau.booking.addresses import SMS_NUMBER_TYPES
from creneau.booking.persons import person_index_matched
from creneau.booking.services import NAME_MAX_LENGTH
from creneau.core.crypto import blind_index
from creneau.core.errors import InvalidInput
from creneau.core.phones import phone_parse
from creneau.core.text import NormalizedText, text_normalize, text_shown
from creneau.eligibility.selectors import categories_validate
from creneau.geography.models import PostalCode
from creneau.geography.text import search_name

COLUMNS = (
    "identifiant",
    "nom",
    "prenoms",
    "date_naissance",
    "adresse_1",
    "adresse_2",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "categories",
)
IDENTIFIANT_MAX_LENGTH = 64
ADDRESS_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254
OLDEST_AGE_YEARS = 130
# A cell that a spreadsheet would run as a formula (CSV injection): rejected, not
# neutralised. The extract is written by a program; a name that begins with "=" is not a
# name but a file that was tampered with, and the line says so. The phone number is the
# one cell that may begin with "+": it is read by phonenumbers and stored in E.164.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
IDENTIFIANT_PURPOSE = "campaigns.invitee.identifiant"
ROW_PURPOSE = "campaigns.invitee.row"
_ARRONDISSEMENT = re.compile(r" \d+(?:er|e) arrondissement$")
# How many bytes the encoding check reads at a time.
_CHUNK = 1 << 20


class RowRejected(Exception):
    """One row's reason, said without repeating its personal values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Row:
    """A row as it will be stored: every value checked and in its stored form."""

    line: int
    identifiant: str
    identifiant_index: str
    family_name: str
    given_names: str
    birth_date: date
    address: dict
    department_id: str
    phone: str
    email: str
    categories: list[str]
    person_key: str
    first_name_key: str
    digest: str


def identifiant_index(identifiant: str) -> str:
    return blind_index(identifiant, purpose=IDENTIFIANT_PURPOSE)


def file_check(stream: IO[bytes]) -> None:
    """The whole file before any row is read: its size under POPULATION_IMPORT_MAX_BYTES
    and every byte UTF-8, so that a file refused for either changes nothing. Leaves the
    stream at its start."""
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    limit = settings.POPULATION_IMPORT_MAX_BYTES
    if size > limit:
        raise InvalidInput(
            gettext("Fichier trop gros : %(size)s Mo, au plus %(max)s Mo.")
            % {"size": size // 2**20, "max": limit // 2**20},
            field="file",
        )
    if size == 0:
        raise InvalidInput(gettext("Le fichier est vide."), field="file")
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    while chunk := stream.read(_CHUNK):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as error:
            line = lines + chunk[: error.start].count(b"\n")
            stream.seek(0)
            raise InvalidInput(
                gettext(
                    "Le fichier n'est pas en UTF-8 (ligne %(line)s) : enregistrez-le en "
                    "UTF-8, et non en Latin-1 ou Windows-1252."
                )
                % {"line": line},
                field="file",
            ) from None
        lines += chunk.count(b"\n")
    stream.seek(0)


def rows_read(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    """(line, cells by column, "") for each row, or (line, None, reason) for a row that
    cannot even be split into the columns. The header decides the separator (";" or ",")
    and must name every column: InvalidInput otherwise, raised here, before any row."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    header_line = text.readline()
    delimiter = _delimiter(header_line)
    header = [name.strip().lower() for name in next(csv.reader([header_line], delimiter=delimiter))]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise InvalidInput(
            gettext("Colonnes manquantes : %(missing)s. L'en-tête attendu est : %(header)s.")
            % {"missing": ", ".join(missing), "header": ";".join(COLUMNS)},
            field="file",
        )
    positions = {column: header.index(column) for column in COLUMNS}
    return _rows(csv.reader(text, delimiter=delimiter, strict=True), positions, len(header))


def _rows(
    reader, positions: dict[str, int], width: int
) -> Iterator[tuple[int, dict[str, str] | None, str]]:
    # The header was line 1: the reader counts from the line after it.
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield reader.line_num + 1, None, gettext("Ligne illisible (guillemets mal fermés).")
            continue
        line = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != width:
            yield (
                line,
                None,
                gettext("%(found)s colonnes au lieu de %(expected)s.")
                % {"found": len(cells), "expected": width},
            )
            continue
        yield line, {column: cells[index] for column, index in positions.items()}, ""


def _delimiter(header_line: str) -> str:
    semicolons, commas = header_line.count(";"), header_line.count(",")
    if max(semicolons, commas) < len(COLUMNS) - 1:
        raise InvalidInput(
            gettext(
                "La première ligne doit nommer les colonnes, séparées par « ; » ou « , » : "
                "%(header)s."
            )
            % {"header": ";".join(COLUMNS)},
            field="file",
        )
    return ";" if semicolons >= commas else ","


# The (postcode, commune as written) pairs whose answer an import remembers: a national
# extract writes each town the same way on thousands of rows. Forgotten all at once when
# full, so that a file of a million misspellings still fits in bounded memory.
TOWNS_REMEMBERED = 100_000


class PostcodeBook:
    """Each postcode's communes (their search names) and departments, read once for a
    whole import instead of a query a row; and the answer for each commune as written
    at a postcode, worked out once."""

    def __init__(self) -> None:
        self.communes: dict[str, list[tuple[str, str]]] = {}
        for code, name, department in PostalCode.objects.values_list(
            "code", "commune__search_name", "commune__department_id"
        ):
            self.communes.setdefault(code, []).append((name, department))
        # (postcode, cell) → (commune as stored, department) or the rejection's reason.
        self._towns: dict[tuple[str, str], tuple[str, str] | str] = {}

    def town(self, *, postcode: str, commune: str) -> tuple[str, str]:
        """The commune as stored (normalised, cut to the address's length) and its
        department, from the cells as the file wrote them; RowRejected otherwise."""
        key = (postcode, commune)
        found = self._towns.get(key)
        if found is None:
            try:
                shown = text_shown(commune)[:ADDRESS_MAX_LENGTH]
                found = (shown, self.department(postcode=postcode.strip(), commune=shown))
            except RowRejected as rejection:
                found = rejection.reason
            if len(self._towns) >= TOWNS_REMEMBERED:
                self._towns.clear()
            self._towns[key] = found
        if isinstance(found, str):
            raise RowRejected(found)
        return found

    def department(self, *, postcode: str, commune: str) -> str:
        communes = self.communes.get(postcode)
        if not communes:
            raise RowRejected(gettext("Code postal inconnu."))
        town = search_name(commune)
        for name, department in communes:
            if town and town in (name, _ARRONDISSEMENT.sub("", name)):
                return department
        raise RowRejected(gettext("La commune n'est pas l'une de celles de ce code postal."))


def row_check(*, line: int, cells: dict[str, str], postcodes: PostcodeBook, today: date) -> Row:
    """One row in its stored form, or RowRejected with the reason."""
    for column, value in cells.items():
        if column != "telephone" and value.lstrip(" ").startswith(FORMULA_START):
            raise RowRejected(
                gettext("Colonne %(column)s : une cellule ne commence pas par =, +, - ou @.")
                % {"column": column}
            )
    identifiant = text_shown(cells["identifiant"])
    if not identifiant or len(identifiant) > IDENTIFIANT_MAX_LENGTH:
        raise RowRejected(
            gettext("Identifiant : de 1 à %(max)s caractères.") % {"max": IDENTIFIANT_MAX_LENGTH}
        )
    family = _name(cells["nom"], label="nom")
    given = _name(cells["prenoms"], label="prenoms")
    family_name, given_names = family.shown, given.shown
    birth_date = _birth_date(cells["date_naissance"], today=today)
    line_1 = _address_line(cells["adresse_1"], label="adresse_1", required=True)
    line_2 = _address_line(cells["adresse_2"], label="adresse_2", required=False)
    postcode = cells["code_postal"].strip()
    commune, department = postcodes.town(postcode=cells["code_postal"], commune=cells["commune"])
    phone = _mobile(cells["telephone"])
    email = _email(cells["email"])
    categories = _categories(cells["categories"])
    address = {"line_1": line_1, "line_2": line_2, "postcode": postcode, "commune": commune}
    first_name = given_names.split(" ")[0]
    first_match = given.match if first_name == given_names else text_normalize(first_name).match
    values = [
        identifiant,
        family_name,
        given_names,
        birth_date.isoformat(),
        address,
        phone,
        email,
        categories,
    ]
    return Row(
        line=line,
        identifiant=identifiant,
        identifiant_index=identifiant_index(identifiant),
        family_name=family_name,
        given_names=given_names,
        birth_date=birth_date,
        address=address,
        department_id=department,
        phone=phone,
        email=email,
        categories=categories,
        person_key=person_index_matched(
            given_match=given.match, family_match=family.match, birth_date=birth_date
        ),
        first_name_key=person_index_matched(
            given_match=first_match, family_match=family.match, birth_date=birth_date
        ),
        digest=blind_index(repr(values), purpose=ROW_PURPOSE),
    )


def _name(value: str, *, label: str) -> NormalizedText:
    """The name as stored (`shown`) and its comparison form (`match`, for the keys)."""
    normalized = text_normalize(value)
    name = normalized.shown
    if not name or len(name) > NAME_MAX_LENGTH or not any(c.isalpha() for c in name):
        raise RowRejected(
            gettext("Colonne %(column)s : de 1 à %(max)s caractères, dont une lettre.")
            % {"column": label, "max": NAME_MAX_LENGTH}
        )
    return normalized


# The two shapes a birth date is written in, with two-digit days and months in ASCII
# digits: read without strptime (most of a date's cost); any other writing goes to
# strptime, which reads it or not, as before.
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_FRENCH_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")


def _date_read(value: str) -> date | None:
    if found := _ISO_DATE.fullmatch(value):
        year, month, day = found.groups()
    elif found := _FRENCH_DATE.fullmatch(value):
        day, month, year = found.groups()
    else:
        for shape in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(value, shape).date()
            except ValueError:
                continue
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:  # 31 February, month 13: strptime refuses them too
        return None


def _birth_date(value: str, *, today: date) -> date:
    born = _date_read(value.strip())
    if born is None:
        raise RowRejected(
            gettext("Date de naissance illisible : AAAA-MM-JJ ou JJ/MM/AAAA attendu.")
        )
    if born > today:
        raise RowRejected(gettext("Date de naissance dans le futur."))
    if born.year < today.year - OLDEST_AGE_YEARS:
        raise RowRejected(gettext("Date de naissance trop ancienne."))
    return born


def _address_line(value: str, *, label: str, required: bool) -> str:
    text = text_shown(value)
    if (required and not text) or len(text) > ADDRESS_MAX_LENGTH:
        raise RowRejected(
            gettext("Colonne %(column)s : au plus %(max)s caractères%(required)s.")
            % {
                "column": label,
                "max": ADDRESS_MAX_LENGTH,
                "required": gettext(", obligatoire") if required else "",
            }
        )
    return text


# The forms a French number is nearly always written in ("0612345678", "06 12 34 56 78",
# "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678"): read without phonenumbers'
# parser, which costs more than the rest of a row's checks, and typed by phonenumbers'
# own metadata for France. tests/campaigns/test_phone_fast_path.py checks that both
# give the same answer on many numbers; any other form goes through the parser.
_FRENCH_NUMBER = re.compile(r"(?:0|\+33 ?|0033 ?)([1-9](?:[ .-]?[0-9]){8})")
_NOT_DIGIT = re.compile(r"\D")
FRANCE = 33


def _mobile(value: str) -> str:
    """A mobile in E.164; "" for none, or for a landline (no SMS reaches it, and a number
    no message will use is not kept)."""
    value = value.strip()
    if not value:
        return ""
    french = _FRENCH_NUMBER.fullmatch(value)
    if french is None:
        return _mobile_parsed(value)
    national = _NOT_DIGIT.sub("", french[1])
    kind = phonenumbers.number_type(
        phonenumbers.PhoneNumber(country_code=FRANCE, national_number=int(national))
    )
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise RowRejected(gettext("Numéro de téléphone invalide."))
    if kind not in SMS_NUMBER_TYPES or "FR" not in settings.SMS_REGIONS:
        return ""
    return f"+{FRANCE}{national}"


def _mobile_parsed(value: str) -> str:
    """_mobile through phonenumbers' parser: any form, any country."""
    try:
        number = phone_parse(value, field="telephone")
    except InvalidInput:
        raise RowRejected(gettext("Numéro de téléphone invalide.")) from None
    if phonenumbers.number_type(number) not in SMS_NUMBER_TYPES:
        return ""
    if phonenumbers.region_code_for_number(number) not in settings.SMS_REGIONS:
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    address = value.strip().lower()
    if not address:
        return ""
    try:
        if len(address) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(address)
    except ValidationError:
        raise RowRejected(gettext("Adresse e-mail invalide.")) from None
    return address


def _categories(value: str) -> list[str]:
    if not value.strip():
        return []
    codes = [code.strip() for code in value.split("|") if code.strip()]
    try:
        return sorted(categories_validate(codes=codes))
    except InvalidInput as error:
        raise RowRejected(error.message) from None
