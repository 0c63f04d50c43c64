"""What the search's map adds to a results page (issue 13, item 16): time and bytes.

For places across France and overseas, ten sites scattered as a search finds them (within
2, 10, 30 and 300 km), it times `map_draw` (projection, outlines, words) and the rendering
of `portal/_map.html`, and measures the HTML it adds. No database: the map reads only
its outline file (once per process; the first call is timed apart).

Run from the project root: .venv/bin/python bench/search_map.py [--repeat 50]
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
# As in production: templates parsed once (DEBUG off); the demo's settings need no secrets.
os.environ.setdefault("CRENEAU_DEMO", "1")

import django

django.setup()

from django.template.loader import render_to_string  # noqa: E402
from django.utils import translation  # noqa: E402

from creneau.core.geo import Position  # noqa: E402
from creneau.geography.maps import _outlines, map_draw  # noqa: E402
from creneau.geography.selectors import Place  # noqa: E402

PLACES = {
    "Paris 17e": (48.8841, 2.3022),
    "Lyon": (45.7578, 4.8320),
    "Marseille": (43.2965, 5.3698),
    "Brest": (48.3904, -4.4861),
    "Aurillac": (44.9264, 2.4397),
    "Saint-Denis (974)": (-20.8823, 55.4504),
    "Pointe-à-Pitre": (16.2411, -61.5331),
    "Cayenne": (4.9224, -52.3135),
}
SPREADS_KM = (2, 10, 30, 300)


def sites_around(origin: tuple[float, float], spread_km: float, rng: random.Random):
    lat, lon = origin
    degrees = spread_km / 111.2
    return [
        (
            f"Lieu {n}",
            Position(lat + rng.uniform(-1, 1) * degrees, lon + rng.uniform(-1, 1) * degrees),
        )
        for n in range(1, 11)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    repeat = parser.parse_args().repeat
    translation.activate("fr")
    started = time.perf_counter()
    _outlines()
    print(f"outlines read once per process: {(time.perf_counter() - started) * 1000:.0f} ms")
    rng = random.Random(16)
    for spread in SPREADS_KM:
        # Per place, the best of `repeat` runs: what the code costs, not what the other
        # processes of a shared machine took from it at that moment.
        draw_ms, render_ms, sizes = [], [], []
        for name, origin in PLACES.items():
            sites = sites_around(origin, spread, rng)
            place = Place(position=Position(*origin), label=name)
            draws, renders = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                drawn = map_draw(place=place.position, sites=sites)
                middle = time.perf_counter()
                page = render_to_string("portal/_map.html", {"map": drawn, "place": place})
                renders.append((time.perf_counter() - middle) * 1000)
                draws.append((middle - started) * 1000)
            draw_ms.append(min(draws))
            render_ms.append(min(renders))
            sizes.append(len(page.encode()))
        total = [d + r for d, r in zip(draw_ms, render_ms, strict=True)]
        print(
            f"sites within {spread:>3} km: draw {statistics.median(draw_ms):.2f} ms, "
            f"render {statistics.median(render_ms):.2f} ms, "
            f"together {statistics.median(total):.2f} ms "
            f"(median of {len(PLACES)} places; slowest place {max(total):.2f} ms); "
            f"HTML {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB"
        )


if __name__ == "__main__":
    main()
