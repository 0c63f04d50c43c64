"""Charts drawn on the server as SVG for the statistics page: no script, readable at any
width (a view box), named for screen readers, each beside a table of its figures."""

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import formats

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
# The map's shades, lightest first (DSFR's blue-france scale), and the one of a
# department whose figure is not published (too few people, or none).
SHADES = ("#e3e3fd", "#cacafb", "#8585f6", "#5c5cf0", "#000091")
NO_FIGURE = "#f6f6f6"


def nice_step(span: float, *, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) cutting `span` in about `ticks`."""
    if span <= 0:
        return 1
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _decimals(step: float) -> int:
    """Enough decimals to tell apart values `step` apart (0.005 needs three)."""
    return max(0, -math.floor(math.log10(step))) if step < 1 else 0


def _number(value: float, *, percent: bool, decimals: int = 0) -> str:
    """In the page's language: grouped thousands, the decimals given, and "%"."""
    text = formats.number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    return f"{text} %" if percent else text


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Line:
    label: str
    css: str
    points: str  # SVG polyline points


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def line_chart(
    *,
    days: Sequence[dt.date],
    series: Sequence[tuple[str, str, Sequence[float]]],
    percent: bool = False,
) -> LineChart:
    """One line per (label, css class, values), a value a day; y from 0 to a round top."""
    top_value = max((v for _, _, values in series for v in values), default=0)
    step = nice_step(top_value)
    y_max = step * max(1, math.ceil(top_value / step))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    lines = tuple(
        Line(
            label=label,
            css=css,
            points=" ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values)),
        )
        for label, css, values in series
    )
    y_ticks = tuple(
        Tick(
            at=round(y(step * n), 1),
            label=_number(step * n, percent=percent, decimals=_decimals(step)),
        )
        for n in range(round(y_max / step) + 1)
    )
    # Mondays, or every second or fourth one when the weeks are many.
    mondays = [i for i, day in enumerate(days) if day.weekday() == 0]
    every = max(1, math.ceil(len(mondays) / 8))
    x_ticks = tuple(
        Tick(at=round(x(i), 1), label=formats.date_format(days[i], "SHORT_DATE_FORMAT")[:5])
        for i in mondays[::every]
    )
    return LineChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        lines=lines,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
    )


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    value_label: str
    y: float
    length: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int  # where the bars start (the labels are on their left)
    bar_height: int
    bars: tuple[Bar, ...]


BAR_HEIGHT, BAR_GAP, BAR_LABELS = 14, 4, 170


def bar_chart(*, items: Sequence[tuple[str, int]], most: int) -> BarChart:
    """Horizontal bars of the `most` largest, largest first, their value at their end."""
    ranked = sorted(items, key=lambda item: -item[1])[:most]
    top_value = max((value for _, value in ranked), default=0) or 1
    room = WIDTH - BAR_LABELS - 70
    bars = tuple(
        Bar(
            label=label,
            value=value,
            value_label=_number(value, percent=False),
            y=n * (BAR_HEIGHT + BAR_GAP),
            length=round(room * value / top_value, 1),
        )
        for n, (label, value) in enumerate(ranked)
    )
    return BarChart(
        width=WIDTH,
        height=max(1, len(bars) * (BAR_HEIGHT + BAR_GAP)),
        left=BAR_LABELS,
        bar_height=BAR_HEIGHT,
        bars=bars,
    )


@dataclass(frozen=True)
class Shade:
    low: float
    high: float | None
    colour: str
    low_label: str
    high_label: str


def shades_for(values: Sequence[float | None]) -> tuple[Shade, ...]:
    """Five classes of equal width from 0 to a round value above the largest."""
    top_value = max((v for v in values if v is not None), default=0)
    step = nice_step(top_value, ticks=len(SHADES))
    decimals = _decimals(step)
    return tuple(
        Shade(
            low=step * n,
            high=step * (n + 1) if n < len(SHADES) - 1 else None,
            colour=colour,
            low_label=_number(step * n, percent=False, decimals=decimals),
            high_label=_number(step * (n + 1), percent=False, decimals=decimals),
        )
        for n, colour in enumerate(SHADES)
    )


def shade_of(value: float | None, shades: Sequence[Shade]) -> str:
    if value is None:
        return NO_FIGURE
    return next(s.colour for s in reversed(shades) if value >= s.low)
