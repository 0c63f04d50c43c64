import difflib
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from django.utils.translation import gettext

from creneau.core.cache import ProcessKept
from creneau.core.errors import AmbiguousPlace, InvalidInput, PlaceNotFound
from creneau.core.geo import Position

from .models import Commune, PostalCode
from .text import search_name

_COORDINATES = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
# A postcode, alone or followed by its town (as the search field suggests it).
_POSTCODE = re.compile(r"^\s*(\d{5})(?:\s+(\D.*?))?\s*$")
# "Saint-Denis (974)", "Saint-Denis 93", "Ajaccio (2A)"
_NAME_WITH_DEPARTMENT = re.compile(r"^(.*?)[\s(]+(\d{2,3}|2[AaBb])\)?\s*$")
MAX_QUERY_LENGTH = 100

OVERSEAS_TIMEZONES = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
    "977": "America/St_Barthelemy",
    "978": "America/Marigot",
    "986": "Pacific/Wallis",
    "987": "Pacific/Tahiti",
    "988": "Pacific/Noumea",
}


@cache
def department_timezone(*, department_code: str) -> ZoneInfo:
    """Where local times of a department are read; it follows from the code, no query."""
    return ZoneInfo(OVERSEAS_TIMEZONES.get(department_code, "Europe/Paris"))


@dataclass(frozen=True)
class Place:
    position: Position
    label: str
    commune_insee_code: str | None = None


def _place_of(commune: Commune, label: str | None = None) -> Place:
    return Place(
        position=Position(commune.latitude, commune.longitude),
        label=label or f"{commune.name} ({commune.department_id})",
        commune_insee_code=commune.insee_code,
    )


# A postcode's place, per process: launch morning's searches name a few thousand
# postcodes, each many times a second; geography_load bumps the version.
_POSTCODE_PLACES = ProcessKept("geography")


def _postcode_place(code: str, town: str) -> Place | None:
    """The commune a postcode names (with a town: that one among its communes), the most
    populous first."""
    communes = Commune.objects.filter(postal_codes__code=code).order_by("-population")
    commune = (town and communes.filter(search_name=town).first()) or communes.first()
    return commune and _place_of(commune, label=f"{code} {commune.name}")


def _candidates(communes) -> list[dict[str, str]]:
    return [
        {
            "name": c.name,
            "department": c.department_id,
            "postcode": min((p.code for p in c.postal_codes.all()), default=""),
        }
        for c in communes
    ]


def place_resolve(*, query: str) -> Place:
    """Turn a postcode, a town name or 'lat,lon' into a position, or say why not."""
    query = (query or "").strip()
    if not query:
        raise InvalidInput(gettext("Indiquez un code postal, une commune ou des coordonnées."))
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            gettext("Recherche trop longue (au plus %(max)d caractères).")
            % {"max": MAX_QUERY_LENGTH}
        )
    if not query.isprintable():
        raise InvalidInput(gettext("La recherche contient des caractères de contrôle."))

    if match := _COORDINATES.match(query):
        latitude, longitude = float(match[1]), float(match[2])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput(
                gettext(
                    "Coordonnées hors limites : la latitude va de -90 à 90, "
                    "la longitude de -180 à 180."
                )
            )
        return Place(Position(latitude, longitude), label=f"{latitude:.5f}, {longitude:.5f}")

    if match := _POSTCODE.match(query):
        code, town = match[1], search_name(match[2]) if match[2] else ""
        place = _POSTCODE_PLACES.get((code, town), lambda: _postcode_place(code, town))
        if place is None:
            raise PlaceNotFound(gettext("Code postal inconnu : %(code)s.") % {"code": code})
        return place

    name, department = query, None
    if match := _NAME_WITH_DEPARTMENT.match(query):
        name, department = match[1], match[2].upper()
    key = search_name(name)
    if not key:
        raise InvalidInput(gettext("Indiquez un code postal, une commune ou des coordonnées."))
    communes = Commune.objects.filter(search_name=key).prefetch_related("postal_codes")
    if department:
        communes = communes.filter(department_id=department)
    matches = list(communes.order_by("-population")[:20])
    if not matches:
        matches = list(
            Commune.objects.filter(search_name__startswith=key)
            .prefetch_related("postal_codes")
            .order_by("-population")[:6]
        )
        if len(matches) != 1:
            raise PlaceNotFound(
                gettext("Commune introuvable : « %(name)s ».") % {"name": name},
                suggestions=_candidates(matches[:5] or communes_similar(key=key)),
            )
    if len({c.department_id for c in matches}) > 1:
        raise AmbiguousPlace(
            gettext(
                "Plusieurs communes s'appellent « %(name)s » : précisez le département "
                "(par exemple « %(name)s (%(department)s) ») ou le code postal."
            )
            % {"name": matches[0].name, "department": matches[0].department_id},
            candidates=_candidates(matches),
        )
    return _place_of(matches[0])


def place_suggest(*, text: str, limit: int = 8) -> list[str]:
    """What a search field may complete `text` to: postcodes with their town, or town
    names with their department, the most populous first. Each answer is a query that
    place_resolve understands."""
    text = (text or "").strip()[:MAX_QUERY_LENGTH]
    if text.isdigit() and 2 <= len(text) <= 5:
        rows = (
            PostalCode.objects.filter(code__startswith=text)
            .order_by("-commune__population", "code")
            .values_list("code", "commune__name")[:limit]
        )
        return [f"{code} {name}" for code, name in rows]
    key = search_name(text)
    if len(key) < 2:
        return []
    rows = (
        Commune.objects.filter(search_name__startswith=key)
        .order_by("-population")
        .values_list("name", "department_id")[:limit]
    )
    return [f"{name} ({department})" for name, department in rows]


SIMILAR_COMMUNES = 5
# How close a name must be to a typed one to be offered ("Marseile" → "Marseille" is
# 0.94, "Marseile" → "Marsillargues" 0.57): a missing, doubled or swapped letter or two.
SIMILARITY_CUTOFF = 0.8


@lru_cache(maxsize=1)
def _commune_names(count: int) -> dict[int, list[str]]:
    """Every commune's search name, by length: read once per process and per number of
    communes (35,000 short strings), so a misspelt town costs a count, not a scan."""
    by_length: dict[int, set[str]] = {}
    for name in Commune.objects.values_list("search_name", flat=True).iterator():
        by_length.setdefault(len(name), set()).add(name)
    return {length: sorted(names) for length, names in by_length.items()}


def communes_similar(*, key: str, limit: int = SIMILAR_COMMUNES) -> list[Commune]:
    """The communes whose name is closest to a misspelt one (`key` as `search_name`
    writes it), the most populous first among equals: "Vouliez-vous dire Marseille ?"."""
    names = _commune_names(Commune.objects.count())
    pool = [name for length in range(len(key) - 2, len(key) + 3) for name in names.get(length, [])]
    close = difflib.get_close_matches(key, pool, n=limit, cutoff=SIMILARITY_CUTOFF)
    rank = {name: index for index, name in enumerate(close)}
    found = Commune.objects.filter(search_name__in=close).prefetch_related("postal_codes")
    return sorted(found, key=lambda c: (rank[c.search_name], -c.population))[:limit]


@cache
def town_names(*, min_population: int) -> frozenset[str]:
    """The names of the communes of at least `min_population` people, from the shipped
    file (whatever the database loaded): the staff password rules refuse them."""
    # services imports this module (OVERSEAS_TIMEZONES): read its file reader late.
    from .services import GEOGRAPHY_FILE, _read

    return frozenset(
        row[1] for row in _read(GEOGRAPHY_FILE)["communes"] if row[3] >= min_population
    )
