"""Values that pages read straight from a request, checked before any query sees them."""

from datetime import date

from django.utils.translation import gettext

from .errors import InvalidInput

# Ids are 64-bit on PostgreSQL: more digits than this would overflow the query.
ID_MAX_DIGITS = 18


def id_parse(text: str | None, *, message: str) -> int:
    """An object id typed or posted as text; `message` is the 400's when it is not one.

    Only ASCII digits: `str.isdigit` also accepts "²", and `int` accepts " 12 " and
    "1_000", none of which a form of ours ever sends.
    """
    text = text or ""
    if not (text.isascii() and text.isdigit()) or len(text) > ID_MAX_DIGITS:
        raise InvalidInput(message)
    return int(text)


def date_parse(text: str) -> date:
    """A day as a page's date field or link sends it (ISO 8601, "2021-05-12").

    The message repeats at most 20 characters of the text: enough to see the mistake,
    never a whole pasted page.
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(gettext("Date invalide : %(text)s.") % {"text": text[:20]}) from None


def has_null_character(values) -> bool:
    """PostgreSQL refuses NUL in text: a request carrying one is refused at the door."""
    return any("\x00" in value for _, items in values.lists() for value in items) or any(
        "\x00" in key for key in values
    )
