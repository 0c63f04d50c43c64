import datetime as dt

import pytest
from django.utils import timezone


class Clock:
    """The time every service reads (`timezone.now`, also behind `auto_now` fields):
    a campaign's weeks simulated in a test, each row dated as it would have been."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        """Set the clock to that day and time in the project's time zone, and answer it."""
        self.now = timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture(autouse=True)
def no_kept_figures():
    """The page's figures and the files are kept in the cache by version (when the days
    were computed): tests that reuse a clock's time must not see another test's."""
    from django.core.cache import cache

    cache.clear()
