"""The map of a search's results, drawn on the server: no tile server, no script.

`map_draw` frames the searched place and the numbered sites, projects them with the
department outlines around them (`data/outlines.json.gz`, built by `build.outlines_build`)
into a small SVG view box, and says where each site lies from the place, in words, for
those who do not see the drawing. The portal writes it out as inline SVG.
"""

import functools
import gzip
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext

from creneau.core.geo import EARTH_RADIUS_KM, Position, distance_km

OUTLINES_FILE = Path(__file__).resolve().parent / "data" / "outlines.json.gz"
# The file's coordinates are integers of 1e-4 degree (about 11 m).
OUTLINE_SCALE = 10_000
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180

# The view box, in SVG units: 4:3, and small, so that the markers and their numbers stay
# readable once a 320-px phone shrinks the whole drawing to its width.
WIDTH, HEIGHT = 320, 240
MARKER_RADIUS = 12
# Room kept around the outermost markers, so that none is cut by the frame.
MARGIN = MARKER_RADIUS + 8
# Outlines are clipped a little outside the frame: the clipped edges are never seen.
CLIP = 8
# The narrowest map: a few streets say nothing without the town around them.
MIN_SPAN_KM = 3.0
SCALE_STEPS_KM = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
# How far (view units) the outlines drawn may stray from the finest ones: 2 units is
# 2 to 3 px on a laptop, where neighbouring borders stay joined (they are simplified
# together); the coarser the outlines, the fewer points to project and to send.
OUTLINE_ERROR = 2
# Closer than this, a site is where the search is: no direction to give.
HERE_KM = 0.05


Box = tuple[float, float, float, float]  # west, south, east, north, in degrees
Points = tuple[tuple[float, float], ...]  # (longitude, latitude)s
# A ring, as its box and runs of consecutive points each with its own box: a run wholly
# outside the view is drawn as its two ends (see `_visible`).
Ring = tuple[Box, tuple[tuple[Box, Points], ...]]
RUN = 32


@dataclass(frozen=True)
class _Outline:
    code: str
    name: str
    box: Box
    levels: tuple[tuple[Ring, ...], ...]  # the rings at each tolerance, finest first


@dataclass(frozen=True)
class _Outlines:
    tolerances: tuple[float, ...]
    departments: tuple[_Outline, ...]


def _box(points: Points) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _ring(flat: list[int]) -> Ring:
    x, y = flat[0], flat[1]
    points = [(x / OUTLINE_SCALE, y / OUTLINE_SCALE)]
    for i in range(2, len(flat), 2):
        x += flat[i]
        y += flat[i + 1]
        points.append((x / OUTLINE_SCALE, y / OUTLINE_SCALE))
    runs = tuple(
        (_box(run), run) for run in (tuple(points[i : i + RUN]) for i in range(0, len(points), RUN))
    )
    return _box(points), runs


def _visible(runs: tuple[tuple[Box, Points], ...], view: Box) -> list[tuple[float, float]]:
    """The ring's points, each run that lies wholly beyond one side of the view cut to
    its two ends: most of a department's outline is off the map, and this spares
    projecting and clipping it.

    Beyond one side is a half-plane, convex and outside the view: the run and the
    straight line between its ends enclose only points of that half-plane, so the part
    of the shape inside the view is the same.
    """
    west, south, east, north = view
    points: list[tuple[float, float]] = []
    for (run_west, run_south, run_east, run_north), run in runs:
        if run_east < west or run_west > east or run_north < south or run_south > north:
            points += (run[0], run[-1])
        else:
            points += run
    return points


@functools.cache
def _outlines(path: Path = OUTLINES_FILE) -> _Outlines:
    """The department outlines, read once per process."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    return _Outlines(
        tolerances=tuple(document["tolerances"]),
        departments=tuple(
            _Outline(
                code=code,
                name=name,
                box=tuple(v / OUTLINE_SCALE for v in box),
                levels=tuple(tuple(_ring(flat) for flat in rings) for rings in levels),
            )
            for code, name, box, levels in document["departments"]
        ),
    )


@dataclass(frozen=True)
class MapDepartment:
    name: str
    code: str
    path: str  # SVG path data
    # Where its name goes, when enough of it is in view to be worth naming.
    label_at: tuple[float, float] | None


@dataclass(frozen=True)
class MapSite:
    """A numbered marker: the number is the site's place in the list of results."""

    number: int
    name: str
    position: Position
    x: float
    y: float
    distance_km: float
    direction: str  # "au nord-est", or "" when the site is where the search is


@dataclass(frozen=True)
class ResultsMap:
    width: int
    height: int
    marker_radius: int
    departments: list[MapDepartment]  # those the view touches
    place: Position
    place_x: float
    place_y: float
    sites: list[MapSite]
    scale_label: str
    scale_percent: float  # the scale bar's length, in % of the map's width
    # south, west, north, east of the view, in degrees (for a tile map's first view).
    bounds: tuple[float, float, float, float]

    @property
    def sites_drawn(self) -> list[MapSite]:
        """The markers in drawing order: the last drawn is on top, so number 1 shows whole."""
        return self.sites[::-1]

    def tile_config(self) -> dict:
        """What a zoomable map needs to draw the same markers (see portal/map.js)."""
        south, west, north, east = self.bounds
        return {
            "bounds": [[south, west], [north, east]],
            "place": [self.place.latitude, self.place.longitude],
            "sites": [
                {
                    "number": s.number,
                    "name": s.name,
                    "at": [s.position.latitude, s.position.longitude],
                }
                for s in self.sites
            ],
        }


def _direction(origin: Position, target: Position) -> str:
    """Where `target` lies from `origin`, as one of the eight points of the compass."""
    east = (target.longitude - origin.longitude) * math.cos(math.radians(origin.latitude))
    north = target.latitude - origin.latitude
    sector = round(math.degrees(math.atan2(east, north)) / 45) % 8
    return (
        gettext("au nord"),
        gettext("au nord-est"),
        gettext("à l'est"),
        gettext("au sud-est"),
        gettext("au sud"),
        gettext("au sud-ouest"),
        gettext("à l'ouest"),
        gettext("au nord-ouest"),
    )[sector]


def _clipped(points: list[tuple[float, float]], low: float, high_x: float, high_y: float):
    """Sutherland-Hodgman: the polygon cut to the rectangle [low, high_x] x [low, high_y].

    The result fills the same area inside the rectangle as the polygon did, which plain
    dropping of outside points would not (a long edge can cross the frame).
    """
    for axis, bound, keep_below in (
        (0, low, False),
        (0, high_x, True),
        (1, low, False),
        (1, high_y, True),
    ):
        if not points:
            return points
        result = []
        previous = points[-1]
        previous_in = (previous[axis] <= bound) if keep_below else (previous[axis] >= bound)
        for point in points:
            inside = (point[axis] <= bound) if keep_below else (point[axis] >= bound)
            if inside != previous_in:
                t = (bound - previous[axis]) / (point[axis] - previous[axis])
                crossing = (
                    previous[0] + t * (point[0] - previous[0]),
                    previous[1] + t * (point[1] - previous[1]),
                )
                result.append(crossing)
            if inside:
                result.append(point)
            previous, previous_in = point, inside
        points = result
    return points


def _path(rings: list[list[tuple[float, float]]]) -> str:
    """SVG path data, one decimal, points that round to the same spot written once."""
    parts = []
    for ring in rings:
        words, last = [], None
        for x, y in ring:
            word = f"{x:.1f} {y:.1f}"
            if word != last:
                words.append(word)
                last = word
        if len(words) >= 3:
            parts.append("M" + " ".join(words) + "Z")
    return "".join(parts)


def _label_at(rings: list[list[tuple[float, float]]]) -> tuple[float, float] | None:
    """The middle of the department's largest piece in view, if that piece covers a tenth
    of the map at least (a sliver at the edge is not worth a name)."""
    best_area, best = 0.0, None
    for ring in rings:
        visible = _clipped(ring, 0, WIDTH, HEIGHT)
        area = cx = cy = 0.0
        for (x0, y0), (x1, y1) in zip(visible, visible[1:] + visible[:1], strict=True):
            cross = x0 * y1 - x1 * y0
            area += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
        if area and abs(area / 2) > best_area:
            best_area, best = abs(area / 2), (cx / (3 * area), cy / (3 * area))
    if best is None or best_area < WIDTH * HEIGHT / 10:
        return None
    # Kept inside the frame, with room for a name of a dozen letters each side.
    x = min(max(best[0], 70.0), WIDTH - 70.0)
    y = min(max(best[1], 14.0), HEIGHT - 6.0)
    return round(x, 1), round(y, 1)


def _scale_bar(units_per_km: float) -> tuple[str, float]:
    """The longest round distance that fits in a third of the width, and its label."""
    fitting = [km for km in SCALE_STEPS_KM if km * units_per_km <= WIDTH / 3] or [SCALE_STEPS_KM[0]]
    km = fitting[-1]
    label = f"{round(km * 1000)} m" if km < 1 else f"{km:g} km"
    return label, km * units_per_km


def map_draw(
    *, place: Position, sites: Sequence[tuple[str, Position]], outlines_path: Path = OUTLINES_FILE
) -> ResultsMap:
    """Frame `place` and the `sites` (name, position), numbered 1, 2… in the order given.

    A flat projection around the middle latitude is exact enough at the scale of a
    search (a few hundred kilometres at most), and keeps north up and distances true in
    both directions.
    """
    positions = [place, *(position for _, position in sites)]
    middle_lat = (min(p.latitude for p in positions) + max(p.latitude for p in positions)) / 2
    middle_lon = (min(p.longitude for p in positions) + max(p.longitude for p in positions)) / 2
    km_x = KM_PER_DEGREE * math.cos(math.radians(middle_lat))

    def km(position: Position) -> tuple[float, float]:
        return (position.longitude - middle_lon) * km_x, (
            position.latitude - middle_lat
        ) * KM_PER_DEGREE

    xs, ys = zip(*(km(p) for p in positions), strict=True)
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    scale = min(
        inner_w / max(span_x, MIN_SPAN_KM),
        inner_h / max(span_y, MIN_SPAN_KM * inner_h / inner_w),
    )  # units per km
    centre_x, centre_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    offset_x = WIDTH / 2 - centre_x * scale
    offset_y = HEIGHT / 2 + centre_y * scale
    # From degrees straight to view units, for the thousands of outline points.
    a_x, b_x = km_x * scale, offset_x - middle_lon * km_x * scale
    a_y, b_y = -KM_PER_DEGREE * scale, offset_y + middle_lat * KM_PER_DEGREE * scale

    def view(position: Position) -> tuple[float, float]:
        return (
            round(a_x * position.longitude + b_x, 1),
            round(a_y * position.latitude + b_y, 1),
        )

    west, east = (-CLIP - b_x) / a_x, (WIDTH + CLIP - b_x) / a_x
    north, south = (-CLIP - b_y) / a_y, (HEIGHT + CLIP - b_y) / a_y
    outlines = _outlines(outlines_path)
    # The coarsest outlines whose error stays within OUTLINE_ERROR.
    level = max(
        (i for i, tolerance in enumerate(outlines.tolerances) if tolerance * -a_y <= OUTLINE_ERROR),
        default=0,
    )
    departments = []
    for outline in outlines.departments:
        if not _overlaps(outline.box, (west, south, east, north)):
            continue
        rings = []
        for box, runs in outline.levels[level]:
            if not _overlaps(box, (west, south, east, north)):
                continue
            points = _visible(runs, (west, south, east, north))
            projected = [(a_x * lon + b_x, a_y * lat + b_y) for lon, lat in points]
            rings.append(_clipped(projected, -CLIP, WIDTH + CLIP, HEIGHT + CLIP))
        data = _path(rings)
        if data:
            departments.append(
                MapDepartment(
                    name=outline.name, code=outline.code, path=data, label_at=_label_at(rings)
                )
            )

    place_x, place_y = view(place)
    map_sites = []
    for number, (name, position) in enumerate(sites, start=1):
        x, y = view(position)
        distance = distance_km(place, position)
        map_sites.append(
            MapSite(
                number=number,
                name=name,
                position=position,
                x=x,
                y=y,
                distance_km=distance,
                direction=_direction(place, position) if distance >= HERE_KM else "",
            )
        )
    scale_label, scale_length = _scale_bar(scale)
    view_south, view_north = (HEIGHT - b_y) / a_y, -b_y / a_y
    view_west, view_east = -b_x / a_x, (WIDTH - b_x) / a_x
    return ResultsMap(
        width=WIDTH,
        height=HEIGHT,
        marker_radius=MARKER_RADIUS,
        departments=departments,
        place=place,
        place_x=place_x,
        place_y=place_y,
        sites=map_sites,
        scale_label=scale_label,
        scale_percent=round(100 * scale_length / WIDTH, 1),
        bounds=(view_south, view_west, view_north, view_east),
    )


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


# The whole country's map (the statistics page): metropolitan France, and each overseas
# department in an inset of its own on the left, at its own scale (numbered as INSEE does).
COUNTRY_WIDTH, COUNTRY_HEIGHT = 480, 400
INSETS_WIDTH = 100
OVERSEAS = ("971", "972", "973", "974", "976")
INSET_GAP = 4


@dataclass(frozen=True)
class CountryMap:
    width: int
    height: int
    departments: tuple[MapDepartment, ...]  # every department, overseas in their insets
    # The insets' frames: x, y, width, height, and the department's code.
    insets: tuple[tuple[float, float, float, float, str], ...]


def _fitted(
    rings: list[list[tuple[float, float]]], frame: tuple[float, float, float, float]
) -> list[list[tuple[float, float]]]:
    """Rings of (longitude, latitude) projected flat (around their middle latitude) into
    the frame (x, y, width, height), north up, centred, keeping their proportions."""
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    squeeze = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x, span_y = (max(lons) - min(lons)) * squeeze, max(lats) - min(lats)
    x, y, width, height = frame
    scale = min(width / span_x, height / span_y)
    left = x + (width - span_x * scale) / 2 - min(lons) * squeeze * scale
    top = y + (height - span_y * scale) / 2 + max(lats) * scale
    return [
        [(left + lon * squeeze * scale, top - lat * scale) for lon, lat in ring] for ring in rings
    ]


@functools.cache
def country_map_draw(*, outlines_path: Path = OUTLINES_FILE) -> CountryMap:
    """Every department's outline in one view box (drawn once per process: the page only
    shades them). The coarsest outlines do for metropolitan France at this scale; an
    overseas department, drawn larger in its inset, takes the second finest."""
    outlines = _outlines(outlines_path)

    def rings_of(outline: _Outline) -> list[list[tuple[float, float]]]:
        level = 1 if outline.code in OVERSEAS else len(outlines.tolerances) - 1
        return [[p for _, run in runs for p in run] for _, runs in outline.levels[level]]

    by_code = {outline.code: outline for outline in outlines.departments}
    metropolitan = [o for o in outlines.departments if o.code not in OVERSEAS]
    # One projection for all of metropolitan France: fit every ring together, then cut
    # them back into their departments.
    counts = [len(rings_of(o)) for o in metropolitan]
    fitted = _fitted(
        [ring for o in metropolitan for ring in rings_of(o)],
        (INSETS_WIDTH + INSET_GAP, 0, COUNTRY_WIDTH - INSETS_WIDTH - INSET_GAP, COUNTRY_HEIGHT),
    )
    departments, start = [], 0
    for outline, count in zip(metropolitan, counts, strict=True):
        departments.append(
            MapDepartment(
                name=outline.name,
                code=outline.code,
                path=_path(fitted[start : start + count]),
                label_at=None,
            )
        )
        start += count
    insets = []
    inset_height = (COUNTRY_HEIGHT - INSET_GAP * (len(OVERSEAS) - 1)) / len(OVERSEAS)
    for n, code in enumerate(code for code in OVERSEAS if code in by_code):
        frame = (0.0, n * (inset_height + INSET_GAP), float(INSETS_WIDTH), inset_height)
        insets.append((*(round(v, 1) for v in frame), code))
        inner = (frame[0] + 4, frame[1] + 4, frame[2] - 8, frame[3] - 8)
        outline = by_code[code]
        departments.append(
            MapDepartment(
                name=outline.name,
                code=code,
                path=_path(_fitted(rings_of(outline), inner)),
                label_at=None,
            )
        )
    return CountryMap(
        width=COUNTRY_WIDTH,
        height=COUNTRY_HEIGHT,
        departments=tuple(sorted(departments, key=lambda d: d.code)),
        insets=tuple(insets),
    )
