"""Build the compact geography file shipped with Créneau from the official sources.

Sources (see data/NOTICE.md for licences):
- @etalab/decoupage-administratif (npm, MIT): regions, departments, communes,
  municipal arrondissements, postcodes and populations (INSEE);
- La Poste's "Base officielle des codes postaux" (ODbL): a position per commune.
"""

import csv
import gzip
import itertools
import json
from collections import defaultdict
from pathlib import Path

from .maps import OUTLINE_SCALE

KINDS_KEPT = {"commune-actuelle", "arrondissement-municipal"}


def _read_laposte(path: Path) -> tuple[dict[str, tuple[float, float]], dict[str, set[str]]]:
    positions: dict[str, tuple[float, float]] = {}
    postcodes: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            insee = row["Code_commune_INSEE"].strip()
            postcodes[insee].add(row["Code_postal"].strip())
            coordinates = (row.get("coordonnees_gps") or "").strip()
            # Ligne_5 names a locality inside the commune: its position is not the commune's.
            if coordinates and insee not in positions and not row.get("Ligne_5", "").strip():
                lat, lon = (float(part) for part in coordinates.split(","))
                positions[insee] = (round(lat, 5), round(lon, 5))
    return positions, postcodes


def geography_build(*, etalab_dir: Path, laposte_csv: Path, output: Path) -> dict[str, int]:
    data = etalab_dir / "data"
    regions = json.loads((data / "regions.json").read_text(encoding="utf-8"))
    departments = json.loads((data / "departements.json").read_text(encoding="utf-8"))
    communes = json.loads((data / "communes.json").read_text(encoding="utf-8"))
    positions, laposte_postcodes = _read_laposte(laposte_csv)

    kept = [c for c in communes if c.get("type") in KINDS_KEPT]
    # Paris, Lyon and Marseille have positions only for their arrondissements.
    arrondissements: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for commune in kept:
        if commune["type"] == "arrondissement-municipal" and commune["code"] in positions:
            arrondissements[commune["commune"]].append(positions[commune["code"]])
    for parent, points in arrondissements.items():
        if parent not in positions:
            positions[parent] = (
                round(sum(p[0] for p in points) / len(points), 5),
                round(sum(p[1] for p in points) / len(points), 5),
            )

    population_by_department: dict[str, int] = defaultdict(int)
    rows, without_position = [], 0
    for commune in kept:
        if commune["type"] == "commune-actuelle":
            population_by_department[commune["departement"]] += commune.get("population") or 0
        if commune["code"] not in positions:
            without_position += 1
            continue
        lat, lon = positions[commune["code"]]
        codes = set(commune.get("codesPostaux") or []) | laposte_postcodes.get(
            commune["code"], set()
        )
        if commune["code"] in arrondissements:
            # A postcode of Paris, Lyon or Marseille means its arrondissement.
            codes = set()
        rows.append(
            [
                commune["code"],
                commune["nom"],
                commune["departement"],
                commune.get("population") or 0,
                lat,
                lon,
                " ".join(sorted(codes)),
            ]
        )

    document = {
        "regions": [[r["code"], r["nom"]] for r in regions],
        "departments": [
            [d["code"], d["nom"], d["region"], population_by_department[d["code"]]]
            for d in departments
        ],
        "communes": sorted(rows),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 makes the file byte-identical from one build to the next.
    with gzip.GzipFile(output, "wb", mtime=0) as handle:
        handle.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    return {
        "regions": len(regions),
        "departments": len(departments),
        "communes": len(rows),
        "communes_without_position": without_position,
    }


# Douglas-Peucker tolerances, in degrees, one level of detail each: the map of a search
# takes the coarsest whose error stays under a unit of its view box (0.0015° is about
# 150 m: a unit of the narrowest map is about 10 m, the outlines are only landmarks there;
# 0.05° is for a map of the whole of France).
OUTLINE_TOLERANCES = (0.0015, 0.005, 0.015, 0.05)


def _rings(geometry: dict) -> list[list[list[float]]]:
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    return [ring for polygon in polygons for ring in polygon]


def _douglas_peucker(points: list[tuple[int, int]], tolerance: float) -> list[tuple[int, int]]:
    """The points of an open line kept by Douglas-Peucker (both ends always kept)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        length = (dx * dx + dy * dy) ** 0.5
        farthest, index = -1.0, -1
        for i in range(first + 1, last):
            x, y = points[i]
            if length:
                distance = abs(dy * (x - x1) - dx * (y - y1)) / length
            else:
                distance = ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
            if distance > farthest:
                farthest, index = distance, i
        if farthest > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def _simplify_ring(
    ring: list[tuple[int, int]], owners: dict[tuple[int, int], frozenset], tolerance: float
) -> list[tuple[int, int]]:
    """Simplify a closed ring so that a border shared by two departments is simplified
    the same way on both sides (no slivers or gaps between neighbours).

    The ring is cut where the set of departments a vertex belongs to changes; each piece
    between two cuts is then the same sequence of points in both departments (perhaps
    reversed), and is simplified in one canonical direction.
    """
    ring = ring[:-1] if ring[0] == ring[-1] else ring
    count = len(ring)
    cuts = [
        i
        for i in range(count)
        if owners[ring[i]] != owners[ring[i - 1]]
        or owners[ring[i]] != owners[ring[(i + 1) % count]]
    ]
    if not cuts:
        # A ring of one department alone (an island, a coast): cut at its lowest point
        # and at the point farthest from it, so that it is two open lines.
        start = ring.index(min(ring))
        ring = ring[start:] + ring[:start]
        far = max(
            range(count),
            key=lambda i: (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2,
        )
        cuts = [0, far] if far else [0]
    kept: list[tuple[int, int]] = []
    for position, cut in enumerate(cuts):
        end = cuts[(position + 1) % len(cuts)]
        piece = ring[cut : end + 1] if end > cut else ring[cut:] + ring[: end + 1]
        canonical = piece[0] > piece[-1] or (piece[0] == piece[-1] and piece[1] > piece[-2])
        simplified = _douglas_peucker(piece[::-1] if canonical else piece, tolerance)
        kept += (simplified[::-1] if canonical else simplified)[:-1]
    return kept


def _delta_encoded(points: list[tuple[int, int]]) -> list[int]:
    flat = list(points[0])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        flat += [x1 - x0, y1 - y0]
    return flat


def outlines_build(
    *, source: Path, output: Path, tolerances: tuple[float, ...] = OUTLINE_TOLERANCES
) -> dict[str, int]:
    """Department outlines for the search map: simplified, rounded, gzip-compressed JSON.

    Each department is `[code, name, [west, south, east, north], levels]`: one list of
    rings per tolerance (finest first), every ring a flat list of integers (1e-4 degree),
    the first point then the differences from the previous one (they compress well).
    Rings that simplify to less than a triangle are left out of that level.
    """
    features = json.loads(source.read_text(encoding="utf-8"))["features"]
    owners_of: dict[tuple[int, int], set[str]] = defaultdict(set)
    departments = []
    for feature in features:
        code = feature["properties"]["code"]
        rings = [
            [(round(x * OUTLINE_SCALE), round(y * OUTLINE_SCALE)) for x, y in ring]
            for ring in _rings(feature["geometry"])
        ]
        for ring in rings:
            for point in ring:
                owners_of[point].add(code)
        departments.append((code, feature["properties"]["nom"], rings))
    owners = {point: frozenset(codes) for point, codes in owners_of.items()}
    rows = []
    counts = {"departments": len(departments)}
    counts["points"] = sum(len(ring) for _, _, rings in departments for ring in rings)
    for code, name, rings in sorted(departments):
        levels = []
        for tolerance in tolerances:
            simplified = [_simplify_ring(ring, owners, tolerance * OUTLINE_SCALE) for ring in rings]
            kept = [_delta_encoded(ring) for ring in simplified if len(ring) >= 3]
            counts[f"points at {tolerance}°"] = counts.get(f"points at {tolerance}°", 0) + sum(
                len(ring) // 2 for ring in kept
            )
            levels.append(kept)
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        rows.append([code, name, [min(xs), min(ys), max(xs), max(ys)], levels])
    document = {"tolerances": list(tolerances), "departments": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 makes the file byte-identical from one build to the next.
    with gzip.GzipFile(output, "wb", mtime=0) as handle:
        handle.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    return counts
