"""How one person is recognised, whoever types their name (invariant 4)."""

from datetime import date

from creneau.core.text import text_normalize


def person_match_key(*, given_name: str, family_name: str, birth_date: date) -> str:
    """Names in their comparison form (case, accents, invisible characters and the
    punctuation between words left out) and the birth date: 'MARTIN', 'Martin' and
    'Mar\u200btin' born the same day are one person. Stored as Person.match_key and copied
    to Series.person_key, whose unique constraint allows one active series per key."""
    family, given = text_normalize(family_name).match, text_normalize(given_name).match
    return f"{family}|{given}|{birth_date.isoformat()}"
