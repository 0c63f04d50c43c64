import datetime as dt

import pytest

from creneau.booking.ages import AGE_BAND_LABELS, age_band


@pytest.mark.parametrize(
    ("born", "on", "band"),
    [
        (dt.date(2000, 6, 2), dt.date(2018, 6, 1), "0-17"),
        (dt.date(2000, 6, 1), dt.date(2018, 6, 1), "18-24"),
        (dt.date(2000, 6, 1), dt.date(2025, 5, 31), "18-24"),
        (dt.date(2000, 6, 1), dt.date(2025, 6, 1), "25-29"),
        (dt.date(1946, 3, 1), dt.date(2026, 2, 28), "75-79"),
        (dt.date(1946, 3, 1), dt.date(2026, 3, 1), "80+"),
        (dt.date(2030, 1, 1), dt.date(2026, 3, 1), "0-17"),
    ],
)
def test_the_band_is_the_age_on_the_day(born, on, band):
    assert age_band(birth_date=born, on=on) == band


def test_the_official_bands():
    assert AGE_BAND_LABELS[:3] == ("0-17", "18-24", "25-29")
    assert AGE_BAND_LABELS[-2:] == ("75-79", "80+")
    assert len(AGE_BAND_LABELS) == 14
