"""Great-circle distances and the coarse grid that lets a search touch only nearby rows."""

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
# A cell is 0.1° of latitude by 0.1° of longitude: about 11 km by 7.5 km in France.
CELL_DEGREES = 0.1
CELLS_PER_ROW = 3600


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float


def distance_km(a: Position, b: Position) -> float:
    """Haversine distance in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _row(latitude: float) -> int:
    return math.floor((latitude + 90) / CELL_DEGREES)


def _column(longitude: float) -> int:
    return math.floor((longitude + 180) / CELL_DEGREES) % CELLS_PER_ROW


def grid_cell(position: Position) -> int:
    return _row(position.latitude) * CELLS_PER_ROW + _column(position.longitude)


def grid_cell_ranges(centre: Position, radius_km: float) -> list[tuple[int, int]]:
    """Inclusive ranges of cells that cover every point within radius_km of centre.

    One range per row of cells, so an index on the cell number answers the whole
    disc with a handful of range scans, whatever the number of rows elsewhere.
    """
    lat_delta = math.degrees(radius_km / EARTH_RADIUS_KM)
    south = max(-90.0, centre.latitude - lat_delta)
    north = min(90.0 - 1e-9, centre.latitude + lat_delta)
    widest_lat = min(89.0, max(abs(south), abs(north)))
    lon_delta = math.degrees(radius_km / (EARTH_RADIUS_KM * math.cos(math.radians(widest_lat))))
    ranges = []
    for row in range(_row(south), _row(north) + 1):
        base = row * CELLS_PER_ROW
        if lon_delta >= 180:
            ranges.append((base, base + CELLS_PER_ROW - 1))
            continue
        west, east = _column(centre.longitude - lon_delta), _column(centre.longitude + lon_delta)
        if west <= east:
            ranges.append((base + west, base + east))
        else:  # the disc crosses the antimeridian
            ranges.append((base + west, base + CELLS_PER_ROW - 1))
            ranges.append((base, base + east))
    return ranges
