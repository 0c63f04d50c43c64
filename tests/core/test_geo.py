import math

from hypothesis import given
from hypothesis import strategies as st

from creneau.core.geo import EARTH_RADIUS_KM, Position, distance_km, grid_cell, grid_cell_ranges

PARIS = Position(48.8566, 2.3522)
MARSEILLE = Position(43.2965, 5.3698)


def test_distance_paris_marseille_is_about_660_km():
    assert 655 < distance_km(PARIS, MARSEILLE) < 665


def test_distance_is_symmetric_and_zero_on_the_spot():
    assert distance_km(PARIS, PARIS) == 0
    assert distance_km(PARIS, MARSEILLE) == distance_km(MARSEILLE, PARIS)


latitudes = st.floats(min_value=-60, max_value=60)
longitudes = st.floats(min_value=-180, max_value=179.999)


@given(
    lat=latitudes,
    lon=longitudes,
    radius=st.floats(min_value=0.5, max_value=300),
    bearing=st.floats(min_value=0, max_value=2 * math.pi),
    fraction=st.floats(min_value=0, max_value=0.999),
)
def test_every_point_within_the_radius_lies_in_a_covered_cell(lat, lon, radius, bearing, fraction):
    centre = Position(lat, lon)
    # The point at `fraction * radius` along `bearing` (spherical destination formula).
    angular = fraction * radius / EARTH_RADIUS_KM
    lat1, lon1 = math.radians(lat), math.radians(lon)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angular) + math.cos(lat1) * math.sin(angular) * math.cos(bearing)
    )
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(angular) * math.cos(lat1),
        math.cos(angular) - math.sin(lat1) * math.sin(lat2),
    )
    point = Position(math.degrees(lat2), (math.degrees(lon2) + 540) % 360 - 180)
    assert distance_km(centre, point) <= radius + 1e-6
    cell = grid_cell(point)
    assert any(low <= cell <= high for low, high in grid_cell_ranges(centre, radius))
