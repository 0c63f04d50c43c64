"""How one person is recognised, whoever types their name (invariant 4), without the
database holding their names: the comparison form goes through a blind index."""

from datetime import date

from creneau.core.crypto import blind_index
from creneau.core.text import text_normalize

PERSON_PURPOSE = "booking.person"
NAME_PURPOSE = "booking.person.name"


def person_match_key(*, given_name: str, family_name: str, birth_date: date) -> str:
    """Names in their comparison form (case, accents, invisible characters and the
    punctuation between words left out) and the birth date: 'MARTIN', 'Martin' and
    'Mar\u200btin' born the same day are one person. Never stored: its blind index is
    (person_index)."""
    family, given = text_normalize(family_name).match, text_normalize(given_name).match
    return _match_key(family=family, given=given, birth_date=birth_date)


def _match_key(*, family: str, given: str, birth_date: date) -> str:
    return f"{family}|{given}|{birth_date.isoformat()}"


def person_index_matched(*, given_match: str, family_match: str, birth_date: date) -> str:
    """person_index of names already in their comparison form (`text_normalize(…).match`,
    which normalising again leaves as it is): the population import normalises each name
    once for its checks and its keys."""
    return blind_index(
        _match_key(family=family_match, given=given_match, birth_date=birth_date),
        purpose=PERSON_PURPOSE,
    )


def person_index(*, given_name: str, family_name: str, birth_date: date) -> str:
    """Person.match_key, copied to Series.person_key, whose unique constraint allows one
    active series per key."""
    return blind_index(
        person_match_key(given_name=given_name, family_name=family_name, birth_date=birth_date),
        purpose=PERSON_PURPOSE,
    )


def person_name_index(*, family_name: str, birth_date: date) -> str:
    """Person.name_index: what the call centre finds a caller by, the family name in its
    comparison form and the birth date, exactly."""
    family = text_normalize(family_name).match
    return blind_index(f"{family}|{birth_date.isoformat()}", purpose=NAME_PURPOSE)
