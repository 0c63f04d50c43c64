"""Reading the health insurance fund's extract: the file checked as a whole (size,
encoding, columns), then each row on its own (a bad row is rejected with its line and
reason, never stops the rest). Nothing here writes: `services.population_import` does.

The file is read as a stream, one row at a time: memory stays the same for ten rows or a
million.
"""

import codecs
import csv
import gc
import io
import itertools
import multiprocessing
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime
from typing import IO, NamedTuple

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connections
from django.utils.translation import gettext
from phonenumbers.phonemetadata import PhoneMetadata

from creneau.booking.addresses import SMS_NUMBER_TYPES
from creneau.booking.persons import person_index_matched
from creneau.booking.services import NAME_MAX_LENGTH
from creneau.core.crypto import blind_index
from creneau.core.errors import InvalidInput
from creneau.core.phones import phone_parse
from creneau.core.text import NormalizedText, text_normalize, text_shown
from creneau.eligibility.selectors import categories_validate, category_list
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


class Row(NamedTuple):
    """A row as it will be stored: every value checked and in its stored form. A tuple:
    built at a fraction of a frozen dataclass's cost, a million times over."""

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


# The (postcode, commune as written) pairs, and the names as written, whose answer an
# import remembers: a national extract writes each town and each common name the same
# way on thousands of rows. Forgotten all at once when full, so that a file of a million
# different ones still fits in bounded memory.
TOWNS_REMEMBERED = 100_000
NAMES_REMEMBERED = 100_000


class ImportBook:
    """What an import reads once and remembers: each postcode's communes (their search
    names) and departments, read once for a whole import instead of a query a row; the
    answer for each commune as written at a postcode, and the forms of each name as
    written, worked out once."""

    def __init__(self) -> None:
        self.communes: dict[str, list[tuple[str, str]]] = {}
        for code, name, department in PostalCode.objects.values_list(
            "code", "commune__search_name", "commune__department_id"
        ):
            self.communes.setdefault(code, []).append((name, department))
        # (postcode, cell) → (commune as stored, department) or the rejection's reason.
        self._towns: dict[tuple[str, str], tuple[str, str] | str] = {}
        # A name's cell → its forms (text_normalize); the checks on them run each time.
        self._names: dict[str, NormalizedText] = {}
        # The category codes known when the import began: the checking processes of a
        # parallel import read them here, not from the database.
        self.categories = frozenset(category.code for category in category_list())

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

    def name(self, value: str) -> NormalizedText:
        """text_normalize(value), worked out once for each way a name is written."""
        found = self._names.get(value)
        if found is None:
            found = text_normalize(value)
            if len(self._names) >= NAMES_REMEMBERED:
                self._names.clear()
            self._names[value] = found
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


def row_check(*, line: int, cells: dict[str, str], book: ImportBook, today: date) -> Row:
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
    family = _name(book.name(cells["nom"]), label="nom")
    given = _name(book.name(cells["prenoms"]), label="prenoms")
    family_name, given_names = family.shown, given.shown
    birth_date = _birth_date(cells["date_naissance"], today=today)
    line_1 = _address_line(cells["adresse_1"], label="adresse_1", required=True)
    line_2 = _address_line(cells["adresse_2"], label="adresse_2", required=False)
    postcode = cells["code_postal"].strip()
    commune, department = book.town(postcode=cells["code_postal"], commune=cells["commune"])
    phone = _mobile(cells["telephone"])
    email = _email(cells["email"])
    categories = _categories(cells["categories"], known=book.categories)
    address = {"line_1": line_1, "line_2": line_2, "postcode": postcode, "commune": commune}
    first_name = given_names.split(" ")[0]
    first_match = given.match if first_name == given_names else book.name(first_name).match
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


def _name(normalized: NormalizedText, *, label: str) -> NormalizedText:
    """The name as stored (`shown`) and its comparison form (`match`, for the keys)."""
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


def _number_types(region: str) -> Callable[[str], int]:
    """phonenumbers.number_type for a national number of `region`, its patterns compiled
    once: the library's own steps, in its order (phonenumberutil._number_type_helper),
    without looking the metadata and each pattern up again for every number."""
    Type = phonenumbers.PhoneNumberType
    metadata = PhoneMetadata.metadata_for_region(region)

    def matcher(desc) -> Callable[[str], bool]:
        if desc is None or not desc.national_number_pattern:
            return lambda number: False
        lengths = frozenset(desc.possible_length)
        pattern = re.compile(desc.national_number_pattern)
        return lambda number: (
            (not lengths or len(number) in lengths) and bool(pattern.fullmatch(number))
        )

    general = matcher(metadata.general_desc)
    special = [
        (matcher(metadata.premium_rate), Type.PREMIUM_RATE),
        (matcher(metadata.toll_free), Type.TOLL_FREE),
        (matcher(metadata.shared_cost), Type.SHARED_COST),
        (matcher(metadata.voip), Type.VOIP),
        (matcher(metadata.personal_number), Type.PERSONAL_NUMBER),
        (matcher(metadata.pager), Type.PAGER),
        (matcher(metadata.uan), Type.UAN),
        (matcher(metadata.voicemail), Type.VOICEMAIL),
    ]
    fixed, mobile = matcher(metadata.fixed_line), matcher(metadata.mobile)
    same = metadata.same_mobile_and_fixed_line_pattern

    def number_type(number: str) -> int:
        if not general(number):
            return Type.UNKNOWN
        for matches, kind in special:
            if matches(number):
                return kind
        if fixed(number):
            return Type.FIXED_LINE_OR_MOBILE if same or mobile(number) else Type.FIXED_LINE
        if not same and mobile(number):
            return Type.MOBILE
        return Type.UNKNOWN

    return number_type


_french_number_type = _number_types("FR")


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
    kind = _french_number_type(national)
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


def _categories(value: str, *, known: frozenset[str]) -> list[str]:
    if not value.strip():
        return []
    codes = [code.strip() for code in value.split("|") if code.strip()]
    if known.issuperset(code.lower() for code in codes):
        return sorted({code.lower() for code in codes})
    try:
        # The vocabulary's own check, for its message naming the unknown codes.
        return sorted(categories_validate(codes=codes))
    except InvalidInput as error:
        raise RowRejected(error.message) from None


# What an import writes of a row, in the order of its writes' columns: the row's values
# (rows_sealed), then the times of the write.
STORED_FIELDS = (
    *("identifiant", "identifiant_index", "family_name", "given_names", "birth_date"),
    *("birth_year", "address", "department", "phone", "email", "has_mobile", "has_email"),
    *("categories", "person_key", "first_name_key", "digest", "position"),
)
WRITE_TIMES = ("created_at", "updated_at")
# A row ready to write: its values for STORED_FIELDS, sealed. What the writer reads of it:
SEALED_INDEX = STORED_FIELDS.index("identifiant_index")
SEALED_DIGEST = STORED_FIELDS.index("digest")
SEALED_LINE = STORED_FIELDS.index("position")


def rows_sealed(rows: list[Row]) -> list[tuple]:
    """The rows' values for STORED_FIELDS, each sealed field's column sealed in one go
    (EncryptedField.get_prep_values, under its own purpose); the other values as the
    driver takes them."""
    from .models import Invitee

    if not rows:
        return []
    columns = list(
        zip(
            *(
                (
                    *(row.identifiant, row.identifiant_index, row.family_name),
                    *(row.given_names, row.birth_date, row.birth_date.year, row.address),
                    *(row.department_id, row.phone, row.email, bool(row.phone)),
                    *(bool(row.email), row.categories, row.person_key, row.first_name_key),
                    *(row.digest, row.line),
                )
                for row in rows
            ),
            strict=True,
        )
    )
    for position, name in enumerate(STORED_FIELDS):
        field = Invitee._meta.get_field(name)
        if getattr(field, "encrypted", False):
            columns[position] = field.get_prep_values(columns[position])
    return list(zip(*columns, strict=True))


# A row checked: (line, its sealed values, "") or (line, None, the reason it is rejected).
Checked = tuple[int, tuple | None, str]
# Rows checked and sealed at a time (by one process), and chunks ahead of the writes per
# process: enough to keep each busy, few enough that memory follows the chunks.
CHECK_CHUNK = 2_000
CHUNKS_AHEAD = 2


def rows_checked(
    rows: Iterator[tuple[int, dict[str, str] | None, str]],
    *,
    book: ImportBook,
    today: date,
    allowed: frozenset[str] | None,
    processes: int = 1,
) -> Iterator[Checked]:
    """Each row of `rows` (rows_read) checked (row_check, then the departments
    `allowed`) and sealed, in the file's order, by chunks. With several `processes`, the
    chunks are checked and sealed by that many processes forked from this one while this
    one writes (the checks and the sealing are most of an import's CPU); the file is
    still read, and the rows written, by this process alone and in order."""
    context = {"book": book, "today": today, "allowed": allowed}
    chunks = iter(lambda: list(itertools.islice(rows, CHECK_CHUNK)), [])
    if processes <= 1:
        for chunk in chunks:
            yield from _chunk_checked(chunk, **context)
        return
    # Forked: the children start with the book, the keys and the translations already
    # in memory, and never use the parent's database connection (they do not query).
    _forked.update(context)
    # What exists now is the children's too: frozen out of the garbage collector's
    # reach, which would otherwise walk it again in each child and copy the pages it
    # touches (the fork's memory is shared until written).
    gc.freeze()
    ahead: deque[Future] = deque()
    try:
        with ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_child_start,
        ) as pool:
            for chunk in chunks:
                ahead.append(pool.submit(_chunk_checked_forked, chunk))
                if len(ahead) >= processes * CHUNKS_AHEAD:
                    yield from ahead.popleft().result()
            while ahead:
                yield from ahead.popleft().result()
    finally:
        gc.unfreeze()
        _forked.clear()


# What the forked checking processes share with their parent, set before they start.
_forked: dict = {}
# In a checking process: the parent's database connections, which came with the fork.
_inherited: list = []


def _child_start() -> None:
    """A checking process leaves its parent's database connections alone: their state
    is the parent's, and closing one would end the parent's session. They are kept
    referenced (never closed, even by the garbage collector) and forgotten by Django, so
    that a query here (none is expected) would open a connection of its own."""
    for connection in connections.all(initialized_only=True):
        _inherited.append(connection.connection)
        connection.connection = None


def _chunk_checked_forked(chunk: list[tuple[int, dict[str, str] | None, str]]) -> list[Checked]:
    return _chunk_checked(chunk, **_forked)


def _chunk_checked(
    chunk: list[tuple[int, dict[str, str] | None, str]],
    *,
    book: ImportBook,
    today: date,
    allowed: frozenset[str] | None,
) -> list[Checked]:
    """A chunk's rows checked, the good ones sealed together."""
    checked: list[tuple[int, Row | None, str]] = []
    for line, cells, reason in chunk:
        if cells is not None:
            try:
                row = row_check(line=line, cells=cells, book=book, today=today)
                if allowed is not None and row.department_id not in allowed:
                    raise RowRejected(
                        gettext("Département %(code)s : hors de votre périmètre.")
                        % {"code": row.department_id}
                    )
                checked.append((line, row, ""))
                continue
            except RowRejected as rejection:
                reason = rejection.reason
        checked.append((line, None, reason))
    sealed = iter(rows_sealed([row for _, row, _ in checked if row is not None]))
    return [(line, next(sealed) if row else None, reason) for line, row, reason in checked]
