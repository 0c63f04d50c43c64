from hypothesis import given
from hypothesis import strategies as st

from creneau.booking.tokens import (
    _ALPHABET,
    _check_character,
    reference_display,
    reference_new,
    reference_normalize,
    reference_shaped,
)


def test_a_reference_reads_back_however_it_is_typed():
    reference = reference_new()
    shown = reference_display(reference)
    assert reference_normalize(shown) == reference
    assert reference_normalize(f"  {shown.lower()} ") == reference
    assert all(character in _ALPHABET for character in reference)


@given(st.data())
def test_one_mistyped_character_is_always_caught(data):
    reference = reference_new()
    position = data.draw(st.integers(0, len(reference) - 1))
    wrong = data.draw(st.sampled_from([c for c in _ALPHABET if c != reference[position]]))
    assert reference_normalize(reference[:position] + wrong + reference[position + 1 :]) is None


def test_letters_read_as_digits_are_understood():
    data = "10" + reference_new()[2:8]
    reference = data + _check_character(data)
    assert reference_normalize(reference) == reference
    assert reference_normalize("IO" + reference[2:]) == reference
    assert reference_normalize("lo" + reference[2:]) == reference


def test_a_reference_with_a_wrong_check_character_still_reads_as_a_reference():
    reference = reference_new()
    wrong = reference[:-1] + ("A" if reference[-1] != "A" else "B")
    assert reference_shaped(wrong) and reference_normalize(wrong) is None
    assert reference_shaped("2682-45BY-A")  # six digits: not a phone number
    assert not reference_shaped("612345678")  # nine digits: a phone number
    assert not reference_shaped("06 12 34 56 78")
