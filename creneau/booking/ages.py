"""The official age bands of the French vaccination statistics, kept on each course.

A person's birth date is encrypted at rest (core.fields) and cannot be grouped by the
database; the band, computed once at booking from the birth date and the day of the
course's first appointment here, can. Five-year bands from 25 say little about one person.
"""

import datetime as dt

# (lowest age, label); each band runs to the next one's lowest age, the last has no end.
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "0-17"),
    (18, "18-24"),
    *((age, f"{age}-{age + 4}") for age in range(25, 80, 5)),
    (80, "80+"),
)
AGE_BAND_LABELS: tuple[str, ...] = tuple(label for _, label in AGE_BANDS)


def age_on(*, birth_date: dt.date, on: dt.date) -> int:
    """Whole years of age on `on`."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def age_band(*, birth_date: dt.date, on: dt.date) -> str:
    """The band of the person's age on `on` ("75-79"); a birth date after `on` is "0-17"."""
    age = max(age_on(birth_date=birth_date, on=on), 0)
    return next(label for low, label in reversed(AGE_BANDS) if age >= low)
