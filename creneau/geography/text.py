import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-'’`.,()/]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte"}


def search_name(text: str) -> str:
    """'Saint-Étienne', 'ST ETIENNE' and 'saint etienne' all give 'saint etienne'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_only = ascii_only.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae")
    words = _SEPARATORS.split(ascii_only.lower())
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words if w)
