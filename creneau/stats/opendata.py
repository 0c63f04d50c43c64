"""The open-data files: what each holds (a Table Schema, frictionless), and their bytes
in CSV (`;`, UTF-8, one header line, ISO dates, an empty cell for a suppressed count) and
JSON (a list of records, null for a suppressed count), under the Licence Ouverte 2.0.

A dataset has a file of its whole history, to the last published day
(selectors.last_published_day), and one file per published day, which never changes."""

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

from creneau.core.cache import bytes_kept

from .selectors import (
    appointments_by_department,
    figures_version,
    first_day,
    vaccinations_by_department,
)

LICENCE = {
    "name": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
SUPPRESSED_NOTE = (
    "Vide (CSV) ou null (JSON) : effectif de 1 à 10, masqué pour ne pas permettre "
    "d'identifier des personnes, ou taux calculé sur un tel effectif."
)


def _field(name: str, kind: str, description: str, **extra) -> dict:
    return {"name": name, "type": kind, "description": description, **extra}


def _count(name: str, description: str) -> dict:
    return _field(name, "integer", f"{description} {SUPPRESSED_NOTE}", constraints={"minimum": 0})


DEP = _field(
    "dep",
    "string",
    "Code INSEE du département du lieu de vaccination.",
    constraints={"required": True},
)
JOUR = _field(
    "jour",
    "date",
    "Jour (heure locale du département), AAAA-MM-JJ.",
    constraints={"required": True},
)


@dataclass(frozen=True)
class Dataset:
    slug: str
    title: str
    description: str
    fields: list[dict]
    primary_key: list[str]
    rows: Callable[..., list]  # (first=, last=) -> dataclass rows, fields in order

    def schema(self) -> dict:
        """The Table Schema (https://specs.frictionlessdata.io/table-schema/)."""
        return {
            "name": self.slug,
            "title": self.title,
            "description": self.description,
            "fields": self.fields,
            "primaryKey": self.primary_key,
            "missingValues": [""],
            "licenses": [LICENCE],
        }


DATASETS = {
    dataset.slug: dataset
    for dataset in (
        Dataset(
            slug="vaccinations-departements",
            title="Vaccinations par département et par jour",
            description=(
                "Personnes ayant reçu une première dose et personnes ayant terminé leur "
                "schéma vaccinal, chaque jour et en cumul, dans les lieux de vaccination du "
                "département, et leur part de la population du département (INSEE)."
            ),
            fields=[
                DEP,
                JOUR,
                _field(
                    "vaccin",
                    "string",
                    "Code du vaccin, ou « tous » pour l'ensemble des vaccins.",
                    constraints={"required": True},
                ),
                _count("n_dose1", "Premières doses injectées ce jour."),
                _count("n_complet", "Schémas vaccinaux terminés ce jour."),
                _count("n_cum_dose1", "Premières doses injectées depuis le début, cumul."),
                _count("n_cum_complet", "Schémas vaccinaux terminés depuis le début, cumul."),
                _field(
                    "couv_dose1",
                    "number",
                    "Part de la population du département ayant reçu une première dose, en %. "
                    + SUPPRESSED_NOTE,
                ),
                _field(
                    "couv_complet",
                    "number",
                    "Part de la population du département au schéma vaccinal complet, en %. "
                    + SUPPRESSED_NOTE,
                ),
            ],
            primary_key=["dep", "jour", "vaccin"],
            rows=vaccinations_by_department,
        ),
        Dataset(
            slug="rendez-vous-departements",
            title="Rendez-vous par département et par jour",
            description=(
                "Rendez-vous pris ce jour, rendez-vous prévus ce jour, doses injectées, "
                "absences et annulations, par département, vaccin et rang de la dose."
            ),
            fields=[
                DEP,
                JOUR,
                _field("vaccin", "string", "Code du vaccin.", constraints={"required": True}),
                _field(
                    "rang_vaccinal",
                    "integer",
                    "Rang de la dose (1 : première dose).",
                    constraints={"required": True, "minimum": 1},
                ),
                _count("n_rdv_pris", "Rendez-vous pris ce jour (quel que soit leur jour)."),
                _count("n_rdv_prevus", "Rendez-vous prévus ce jour, non annulés."),
                _count("n_doses", "Doses injectées ce jour."),
                _count("n_absents", "Rendez-vous de ce jour où la personne n'est pas venue."),
                _count("n_annulations", "Rendez-vous annulés ce jour (quel que soit leur jour)."),
            ],
            primary_key=["dep", "jour", "vaccin", "rang_vaccinal"],
            rows=appointments_by_department,
        ),
    )
}
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@dataclass(frozen=True)
class File:
    body: bytes
    content_type: str
    etag: str


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _rendered(dataset: Dataset, rows: list, form: str) -> bytes:
    names = [f["name"] for f in dataset.fields]
    if form == "json":
        records = [
            {
                name: _cell(v) if isinstance(v, dt.date) else v
                for name, v in zip(names, dataclasses.astuple(row), strict=True)
            }
            for row in rows
        ]
        return json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(names)
    writer.writerows([_cell(v) for v in dataclasses.astuple(row)] for row in rows)
    return out.getvalue().encode()


def _file(dataset: Dataset, form: str, *, first: dt.date, last: dt.date) -> File:
    # Keyed by what makes the file what it is: the days, and when they were last computed
    # (a rebuild by an operator makes a new file; nothing else changes a published day).
    body, etag = bytes_kept(
        key=f"stats:file:{dataset.slug}:{form}:{first}:{figures_version(last=last)}",
        render=lambda: _rendered(dataset, dataset.rows(first=first, last=last), form),
        seconds=24 * 3600,
    )
    return File(body=body, content_type=FORMATS[form], etag=etag)


def history_file(*, dataset: Dataset, form: str, last: dt.date) -> File:
    """Every day from the first with figures to `last` (the last published day)."""
    return _file(dataset, form, first=first_day() or last, last=last)


def day_file(*, dataset: Dataset, form: str, day: dt.date) -> File:
    """One published day's rows (its running sums included)."""
    return _file(dataset, form, first=day, last=day)


def csv_resource(*, slug: str, title: str) -> dict:
    """A CSV file of /donnees/ as a Data Package resource, its schema beside it."""
    return {
        "name": slug,
        "title": title,
        "path": f"{slug}.csv",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {"delimiter": ";", "header": True},
        "schema": f"{slug}.schema.json",
    }


def datapackage() -> dict:
    """The Data Package (frictionless) that lists both datasets' files and schemas."""
    return {
        "name": "creneau-statistiques",
        "title": "Vaccination : rendez-vous et vaccinations par département",
        "licenses": [LICENCE],
        "resources": [
            csv_resource(slug=dataset.slug, title=dataset.title) for dataset in DATASETS.values()
        ],
    }
