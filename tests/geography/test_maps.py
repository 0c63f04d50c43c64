"""The search's map (creneau/geography/maps.py): what it frames, how it numbers, what it
says in words, and the outline file it is drawn from (creneau/geography/build.py)."""

import gzip
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creneau.core.geo import Position
from creneau.geography.build import outlines_build
from creneau.geography.maps import (
    CLIP,
    HEIGHT,
    MARGIN,
    MIN_SPAN_KM,
    OUTLINES_FILE,
    WIDTH,
    _outlines,
    map_draw,
)

LYON = Position(45.7578, 4.8320)
SAINT_DENIS_REUNION = Position(-20.8823, 55.4504)
# Places of metropolitan France and overseas where a search can start.
ORIGINS = [
    LYON,
    Position(48.8841, 2.3022),
    Position(43.2965, 5.3698),
    SAINT_DENIS_REUNION,
    Position(16.2650, -61.5510),
    Position(4.9224, -52.3135),
    Position(-12.7806, 45.2279),
]


def coordinates(path: str) -> list[float]:
    return [float(number) for number in re.findall(r"-?\d+(?:\.\d+)?", path)]


@st.composite
def searches(draw):
    """A place and up to ten sites at most 300 km from it (the widest search)."""
    origin = draw(st.sampled_from(ORIGINS))
    offsets = st.tuples(st.floats(-2.5, 2.5), st.floats(-2.5, 2.5))
    sites = [
        (f"Lieu {n}", Position(origin.latitude + dlat, origin.longitude + dlon))
        for n, (dlat, dlon) in enumerate(draw(st.lists(offsets, max_size=10)), start=1)
    ]
    return origin, sites


@settings(max_examples=60, deadline=None)
@given(searches())
def test_the_place_and_every_site_are_inside_the_view_whole(search):
    origin, sites = search
    drawn = map_draw(place=origin, sites=sites)

    for x, y in [(drawn.place_x, drawn.place_y), *((s.x, s.y) for s in drawn.sites)]:
        # A marker's whole disc is inside the frame (0.1: the coordinates are rounded).
        assert MARGIN - 0.1 <= x <= WIDTH - MARGIN + 0.1
        assert MARGIN - 0.1 <= y <= HEIGHT - MARGIN + 0.1
    for department in drawn.departments:
        xs_ys = coordinates(department.path)
        assert all(-CLIP - 0.1 <= value <= max(WIDTH, HEIGHT) + CLIP + 0.1 for value in xs_ys)


def test_markers_are_numbered_as_the_list_and_number_one_is_drawn_on_top():
    sites = [
        ("Centre A", Position(45.78, 4.87)),
        ("Pharmacie B", Position(45.74, 4.80)),
        ("Hôpital C", Position(45.70, 4.90)),
    ]
    drawn = map_draw(place=LYON, sites=sites)

    assert [(s.number, s.name) for s in drawn.sites] == [
        (1, "Centre A"),
        (2, "Pharmacie B"),
        (3, "Hôpital C"),
    ]
    assert [s.number for s in drawn.sites_drawn] == [3, 2, 1]
    assert [site["number"] for site in drawn.tile_config()["sites"]] == [1, 2, 3]


def test_north_is_up_and_east_is_right():
    north_east = Position(LYON.latitude + 0.05, LYON.longitude + 0.05)
    drawn = map_draw(place=LYON, sites=[("Nord-est", north_east)])

    site = drawn.sites[0]
    assert site.x > drawn.place_x and site.y < drawn.place_y


@pytest.mark.parametrize(
    ("dlat", "dlon", "words"),
    [
        (0.05, 0, "au nord"),
        (0.04, 0.05, "au nord-est"),
        (0, 0.05, "à l'est"),
        (-0.05, 0, "au sud"),
        (-0.04, -0.05, "au sud-ouest"),
        (0, -0.05, "à l'ouest"),
        (0.04, -0.05, "au nord-ouest"),
        (-0.04, 0.05, "au sud-est"),
    ],
)
def test_each_site_says_where_it_is_from_the_place(dlat, dlon, words):
    target = Position(LYON.latitude + dlat, LYON.longitude + dlon)
    site = map_draw(place=LYON, sites=[("Lieu", target)]).sites[0]

    assert site.direction == words
    assert site.distance_km == pytest.approx(
        ((dlat * 111.2) ** 2 + (dlon * 111.2 * 0.698) ** 2) ** 0.5, rel=0.02
    )


def test_a_site_where_the_search_is_has_no_direction():
    site = map_draw(place=LYON, sites=[("Ici", LYON)]).sites[0]

    assert site.direction == "" and site.distance_km == 0


def test_a_map_of_one_street_still_shows_the_town_around_it():
    drawn = map_draw(
        place=LYON, sites=[("Voisin", Position(LYON.latitude, LYON.longitude + 0.001))]
    )

    _south, west, _north, east = drawn.bounds
    width_km = (east - west) * 111.2 * 0.698
    assert width_km >= MIN_SPAN_KM
    assert drawn.scale_label in {"500 m", "1 km"}


def test_lyon_is_drawn_over_the_rhone_and_nothing_far_away():
    drawn = map_draw(place=LYON, sites=[("Centre", Position(45.76, 4.86))])

    names = [department.name for department in drawn.departments]
    assert "Rhône" in names
    assert "Finistère" not in names and "La Réunion" not in names
    # The Rhône fills most of the view: it is named, inside the frame.
    rhone = next(d for d in drawn.departments if d.code == "69")
    assert rhone.label_at and 0 < rhone.label_at[0] < WIDTH and 0 < rhone.label_at[1] < HEIGHT


def test_a_search_in_reunion_draws_reunion():
    drawn = map_draw(place=SAINT_DENIS_REUNION, sites=[("Centre", Position(-20.90, 55.48))])

    assert [department.name for department in drawn.departments] == ["La Réunion"]
    # Saint-Denis is on the coast: the island's outline crosses the view (not all land).
    values = coordinates(drawn.departments[0].path)
    inside = [
        (x, y)
        for x, y in zip(values[::2], values[1::2], strict=True)
        if 0 < x < WIDTH and 0 < y < HEIGHT
    ]
    assert inside


def test_the_shipped_outlines_cover_every_department_in_a_small_file():
    outlines = _outlines()
    codes = {outline.code for outline in outlines.departments}

    assert len(codes) == 101 and {"2A", "2B", "971", "972", "973", "974", "976"} <= codes
    assert OUTLINES_FILE.stat().st_size < 400_000
    assert all(outline.levels[-1] for outline in outlines.departments)


def square_feature(code: str, ring: list[tuple[float, float]]) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "nom": f"Département {code}"},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
    }


def test_a_shared_border_is_simplified_the_same_on_both_sides(tmp_path):
    # Two departments side by side, their border a line that wiggles by 0.0001° (under
    # the tolerance) and once by 0.01° (over it); the west one walks it upwards, the east
    # one downwards, as real rings do.
    border = [(1.0 + (0.01 if i == 5 else 0.0001 * (i % 2)), i / 10) for i in range(11)]
    west = [(0.0, 0.0), *border, (0.0, 1.0), (0.0, 0.0)]
    east = [(2.0, 1.0), *border[::-1], (2.0, 0.0), (2.0, 1.0)]
    source = tmp_path / "departements.geojson"
    source.write_text(
        json.dumps({"features": [square_feature("01", west), square_feature("02", east)]})
    )
    output = tmp_path / "outlines.json.gz"

    outlines_build(source=source, output=output, tolerances=(0.001,))

    first = output.read_bytes()
    outlines = _outlines(output)
    points = [
        {point for _box, run in outline.levels[0][0][1] for point in run}
        for outline in outlines.departments
    ]
    shared = points[0] & points[1]
    assert {(1.0, 0.0), (1.01, 0.5), (1.0, 1.0)} <= shared
    assert points[0] - shared == {(0.0, 0.0), (0.0, 1.0)}
    assert points[1] - shared == {(2.0, 0.0), (2.0, 1.0)}
    outlines_build(source=source, output=output, tolerances=(0.001,))
    assert output.read_bytes() == first  # a rebuild changes nothing
    with gzip.open(output, "rt") as handle:
        assert json.load(handle)["tolerances"] == [0.001]
