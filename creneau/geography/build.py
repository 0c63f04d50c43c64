"""Build the compact geography file shipped with Créneau from the official sources.

Sources (see data/NOTICE.md for licences):
- @etalab/decoupage-administratif (npm, MIT): regions, departments, communes,
  municipal arrondissements, postcodes and populations (INSEE);
- La Poste's "Base officielle des codes postaux" (ODbL): a position per commune.
"""

import csv
import gzip
import json
from collections import defaultdict
from pathlib import Path

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
