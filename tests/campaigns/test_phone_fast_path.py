"""The import reads the common forms of a French number without phonenumbers' parser
(population._mobile's fast path): on many generated numbers, in every form and with
every first digit, it gives what the parser gives (the same E.164, a landline kept out,
the same numbers refused)."""

import random

from creneau.campaigns.population import RowRejected, _mobile, _mobile_parsed


def outcome(read, value: str) -> str:
    try:
        return read(value)
    except RowRejected:
        return "rejected"


def written(rng: random.Random) -> str:
    digits = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    prefix = rng.choice(["0", "+33", "+33 ", "0033", "0033 "])
    separators = ["", " ", ".", "-"]
    body = digits[0] + "".join(rng.choice(separators) + digit for digit in digits[1:])
    if rng.random() < 0.5:  # by pairs, as people write them
        separator = rng.choice(separators)
        body = digits[0] + separator + separator.join(digits[i : i + 2] for i in range(1, 9, 2))
    return prefix + body


def test_the_fast_path_reads_french_numbers_as_phonenumbers_does(settings):
    rng = random.Random(17)
    seen = set()
    for _ in range(20_000):
        value = written(rng)
        fast, parsed = outcome(_mobile, value), outcome(_mobile_parsed, value)
        assert fast == parsed, value
        seen.add("mobile" if fast.startswith("+33") else fast or "landline")
    # Every kind of answer was compared, not only the mobiles.
    assert seen == {"mobile", "landline", "rejected"}


def test_other_forms_still_go_through_the_parser(settings):
    # A Belgian mobile: valid, but not where SMS go by default (settings.SMS_REGIONS).
    assert _mobile("+32 470 12 34 56") == ""
    assert _mobile("(0)6 12 34 56 78") == _mobile_parsed("(0)6 12 34 56 78")
    assert _mobile(" 06 12 34 56 78 ") == "+33612345678"
    assert outcome(_mobile, "06 12 34 56") == "rejected"
    settings.SMS_REGIONS = frozenset({"BE"})
    assert _mobile("+32 470 12 34 56") == "+32470123456"
    assert _mobile("06 12 34 56 78") == "" == _mobile_parsed("06 12 34 56 78")
