import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from creneau.core.text import text_normalize

# Characters that draw nothing: zero-width space, non-joiner and joiner, word joiner,
# byte-order mark, left-to-right and right-to-left marks, embeddings and overrides,
# isolates, soft hyphen, Arabic letter mark, combining grapheme joiner, Hangul filler,
# variation selector, tag letter.
INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\u00ad\u061c\u034f\u3164\ufe0f\U000e0041"
)
ACCENTS = "\u0300\u0301\u0302\u0308\u0327"
names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéèêëïôçàÉÈÀÇ -'"), min_size=1, max_size=30
).filter(lambda name: any(c.isalpha() for c in name))


@st.composite
def look_alikes(draw, name: str) -> str:
    """`name` with invisible characters slipped in, its case changed and its accents added,
    removed or changed: what someone could type to pass for a new person."""
    out = []
    for character in unicodedata.normalize("NFD", name):
        if unicodedata.combining(character) and draw(st.booleans()):
            continue  # an accent dropped
        if draw(st.booleans()):
            character = character.swapcase()
        out.append(character)
        if character.isalpha() and draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(ACCENTS)))  # an accent added
        out.append(draw(st.text(alphabet=INVISIBLE, max_size=2)))
    return unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), "".join(out))


# No deadline: the machine is shared, and the first example pays for importing tables.
@settings(deadline=None)
@given(data=st.data(), name=names)
def test_a_name_and_its_look_alikes_have_one_match_form(data, name):
    variant = data.draw(look_alikes(name))
    assert text_normalize(variant).match == text_normalize(name).match


@settings(deadline=None)
@given(text=st.text(max_size=40))
def test_what_is_shown_draws_every_character_and_is_stable(text):
    shown = text_normalize(text).shown
    assert not any(unicodedata.category(c) in ("Cf", "Cc", "Cs") for c in shown)
    assert shown == " ".join(shown.split())
    assert text_normalize(shown) == text_normalize(text)


def test_the_shown_form_keeps_the_name_as_typed_without_what_draws_nothing():
    normalized = text_normalize("  Jean\u200b-Éloïse \u202eTSET  ＭＡＲＴＩＮ\ufeff ")
    assert normalized.shown == "Jean-Éloïse TSET MARTIN"
    assert normalized.match == "jean eloise tset martin"


def test_letters_that_keep_their_accent_in_their_shape_match_the_plain_letter():
    assert text_normalize("Łukasz Øster Straße Œuvray").match == "lukasz oster strasse oeuvray"


def _normalize_char_by_char(value: str):
    """text_normalize as it was before its fast paths: every character judged."""
    from creneau.core import text as module

    text = unicodedata.normalize("NFKC", value)
    text = unicodedata.normalize("NFKC", "".join(c for c in text if module._visible(c)))
    shown = " ".join(text.split())
    decomposed = unicodedata.normalize("NFKD", shown.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = module._SEPARATORS.split(plain.translate(module._LETTERS))
    return module.NormalizedText(shown=shown, match=" ".join(w for w in words if w))


@settings(deadline=None, max_examples=300)
@given(text=st.text(max_size=40) | st.text(alphabet=INVISIBLE + ACCENTS + "abcé -", max_size=20))
def test_the_fast_paths_change_no_answer(text):
    assert text_normalize(text) == _normalize_char_by_char(text)
