from creneau.core.text import text_normalize

_ABBREVIATIONS = {"st": "saint", "ste": "sainte"}


def search_name(text: str) -> str:
    """'Saint-Étienne', 'ST ETIENNE' and 'saint etienne' all give 'saint etienne'."""
    words = text_normalize(text).match.split(" ")
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words if w)
