import functools
import gzip
import json
from collections.abc import Collection
from pathlib import Path

from django.db import transaction

from creneau.core.cache import kept_version_bump

from .models import Commune, Department, PostalCode, Region
from .selectors import OVERSEAS_TIMEZONES
from .text import search_name

GEOGRAPHY_FILE = Path(__file__).resolve().parent / "data" / "geography.json.gz"


@functools.cache
def _read(path: Path) -> dict[str, list]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@transaction.atomic
def geography_load(
    *, path: Path = GEOGRAPHY_FILE, departments: Collection[str] | None = None
) -> dict[str, int]:
    """Insert or update regions, departments, communes and postcodes; safe to run again.

    `departments` limits the communes loaded (tests load a few departments, not 35,000
    communes); every region and department is always loaded.
    """
    kept_version_bump("geography")  # searches' postcodes (geography.selectors)
    document = _read(path)
    rows = document["communes"]
    if departments is not None:
        rows = [row for row in rows if row[2] in departments]
    regions = [Region(code=code, name=name) for code, name in document["regions"]]
    Region.objects.bulk_create(
        regions, update_conflicts=True, unique_fields=["code"], update_fields=["name"]
    )
    department_rows = [
        Department(
            code=code,
            name=name,
            region_id=region,
            population=population,
            timezone=OVERSEAS_TIMEZONES.get(code, "Europe/Paris"),
        )
        for code, name, region, population in document["departments"]
    ]
    Department.objects.bulk_create(
        department_rows,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "region", "population", "timezone"],
    )
    communes, postal_codes = [], []
    for insee, name, department, population, lat, lon, codes in rows:
        communes.append(
            Commune(
                insee_code=insee,
                name=name,
                search_name=search_name(name),
                department_id=department,
                population=population,
                latitude=lat,
                longitude=lon,
            )
        )
        postal_codes.extend(PostalCode(code=code, commune_id=insee) for code in codes.split())
    Commune.objects.bulk_create(
        communes,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["insee_code"],
        update_fields=["name", "search_name", "department", "population", "latitude", "longitude"],
    )
    PostalCode.objects.bulk_create(postal_codes, batch_size=2000, ignore_conflicts=True)
    return {
        "regions": len(regions),
        "departments": len(department_rows),
        "communes": len(communes),
        "postal_codes": len(postal_codes),
    }
