"""Text typed by people, normalised at the door: one function for every front door.

Two strings that look the same on a screen must be the same value for the rules that
compare them (invariant 4: `SEC\u200bTEST` is `SECTEST`), and nothing typed may change
how the text after it is shown (a right-to-left override reverses what follows). The
blind indexes of encrypted fields are meant to be computed over `match` too.
"""

import re
import unicodedata
from dataclasses import dataclass

# Invisible characters that are not of category Cf (format, removed as a whole: zero-width
# spaces and joiners, bidirectional marks, embeddings, overrides and isolates, soft hyphen,
# word joiner, byte-order mark, tags): Unicode's other "default ignorable" code points,
# which draw nothing either (combining grapheme joiner, Hangul fillers, Khmer inherent
# vowels, Mongolian variation selectors, variation selectors).
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)
# Letters that carry their accent in their shape (no decomposition) or are two letters.
_LETTERS = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe"}
)
# What separates the words of a name or a place: "Jean-Pierre" is "Jean Pierre".
_SEPARATORS = re.compile(r"[\s\-'’`.,()/]+")


@dataclass(frozen=True)
class NormalizedText:
    # What people see and what is stored: NFKC, nothing invisible, single spaces.
    shown: str
    # What comparisons use: `shown` without case, accents or punctuation between words.
    match: str


def _visible(character: str) -> bool:
    category = unicodedata.category(character)
    # Control characters other than white space (which split() turns into one space)
    # and format characters draw nothing; surrogates cannot even be stored.
    if category in ("Cf", "Cs") or (category == "Cc" and not character.isspace()):
        return False
    return not _IGNORABLE.match(character)


def text_normalize(value: str) -> NormalizedText:
    """The form shown and the form compared of a text someone typed.

    NFKC first folds look-alikes that are the same letter (full-width "Ｊ", ligature "ﬁ");
    it is applied again once the invisible characters are out, so that a letter and an
    accent they separated are composed again.
    """
    shown = text_shown(value)
    return NormalizedText(shown=shown, match=_match(shown))


def text_shown(value: str) -> str:
    """text_normalize(value).shown alone, for a text never compared (an address line):
    the comparison form is half the cost."""
    text = unicodedata.normalize("NFKC", str(value))
    # Nearly every text has nothing invisible: printable (no Cc, Cf, Cs, nor white space
    # but the space) and none of the ignorables is what the filter below would keep
    # whole, checked in C instead of character by character (a population import
    # normalises a dozen texts a row).
    if not text.isprintable() or _IGNORABLE.search(text):
        text = unicodedata.normalize("NFKC", "".join(c for c in text if _visible(c)))
    return " ".join(text.split())


def _match(shown: str) -> str:
    """'Saint-Étienne' → 'saint etienne'. Case is folded before the accents go: folding
    may decompose a letter ("ǰ" → "ǰ")."""
    decomposed = unicodedata.normalize("NFKD", shown.casefold())
    # ASCII has no combining marks to drop.
    plain = (
        decomposed
        if decomposed.isascii()
        else "".join(c for c in decomposed if not unicodedata.combining(c))
    )
    words = _SEPARATORS.split(plain.translate(_LETTERS))
    return " ".join(word for word in words if word)
