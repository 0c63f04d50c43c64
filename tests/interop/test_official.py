"""The directory in the official file's columns, both ways: importing our export changes
nothing."""

import csv
import gzip
from io import StringIO
from pathlib import Path

from django.core.management import call_command

import creneau.sites
from creneau.interop.official import COLUMNS, sites_export_official
from creneau.sites.models import Site
from creneau.sites.services import sites_import_official
from tests.factories import make_site

SNAPSHOT_2023 = (
    Path(creneau.sites.__file__).resolve().parent / "data" / "centres-vaccination_2023-12-19.csv.gz"
)


def _directory() -> list[dict]:
    return list(Site.objects.order_by("id").values())


def test_the_export_has_exactly_the_official_columns(reference, tmp_path):
    with gzip.open(SNAPSHOT_2023, "rt", encoding="utf-8") as official:
        header = official.readline().rstrip("\n").split(";")
    assert list(COLUMNS) == header
    make_site(name="Centre de vaccination du 17e")
    out = StringIO()
    assert sites_export_official(out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split(";") == header
    row = next(csv.DictReader(StringIO(out.getvalue()), delimiter=";"))
    assert row["nom"] == "Centre de vaccination du 17e"
    assert row["gid"] == ""  # not in the official file yet: the ministry gives the id


def test_importing_our_export_of_the_official_file_changes_nothing(reference, tmp_path):
    first = sites_import_official(path=SNAPSHOT_2023)
    assert first.created > 2000
    with_finess = Site.objects.exclude(finess="").count()
    assert with_finess > 0
    before = _directory()
    exported = tmp_path / "export.csv"
    call_command("sites_export_official", str(exported), stderr=StringIO())

    again = sites_import_official(path=exported, snapshot_date=first.snapshot_date)

    assert (again.created, again.updated, again.closed_absent) == (0, 0, 0)
    assert again.unchanged == len(before)
    assert _directory() == before
    assert Site.objects.exclude(finess="").count() == with_finess


def test_our_own_sites_and_drafts_are_not_imported_back(reference, tmp_path):
    ours = make_site(name="Centre de vaccination de la mairie", kind=Site.Kind.MOBILE)
    make_site(name="Brouillon", status=Site.Status.DRAFT)
    before = _directory()
    exported = tmp_path / "export.csv"
    with exported.open("w", encoding="utf-8") as out:
        assert sites_export_official(out=out) == 1
    row = next(csv.DictReader(exported.open(encoding="utf-8"), delimiter=";"))
    assert row["centre_type"] == '{"Equipe mobile"}'
    assert float(row["lat_coor1"]) == ours.latitude

    report = sites_import_official(path=exported)

    assert report.rejected_by_reason() == {"invalid_id": 1}
    assert _directory() == before
